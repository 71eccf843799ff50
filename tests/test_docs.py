"""The README stays true: its two leading commands, every hook and every built-in component."""
from __future__ import annotations

import inspect
import re
from pathlib import Path

from dann_core import hookspecs
from dann_core.plugins import get_plugin_manager, get_registry

README = (Path(__file__).parent.parent / "README.md").read_text()


def _sh_blocks() -> list[str]:
    return re.findall(r"^```sh\n(.*?)^```$", README, flags=re.S | re.M)


def test_readme_leads_with_the_setup_and_run_and_the_setup_and_test_commands():
    run, test = (block.strip() for block in _sh_blocks()[:2])
    setup = run.rsplit("&&", 1)[0]
    assert run.endswith("dann run") and test.startswith(setup + "&&")  # the same setup
    assert "--no-build-isolation" in run and "torch==2.14.1" in run
    # CI (.ci/run runs this block) installs the example plugin into the venv, then runs both test suites
    assert "&& .venv/bin/pip install --no-build-isolation --no-deps ./examples/dann-plugin-example &&" in test
    assert test.endswith("&& .venv/bin/pytest -q && .venv/bin/pytest -q examples/dann-plugin-example")
    assert README.index("```sh") < README.index("## ")  # before any section


def test_the_readme_config_file_resolves_as_shown(tmp_path):
    from dann_core import config

    block = re.search(r"^```toml\n(steps = .*?)^```$", README, flags=re.S | re.M).group(1)
    (tmp_path / "run.toml").write_text(block)
    cfg = config.resolve(tmp_path / "run.toml", recommend=False, registry=get_registry(get_plugin_manager(autoload=False)))
    assert (cfg.dataset, cfg.backbone, cfg.discriminator, cfg.method, cfg.log) == ("moons", "mlp", "mlp", "dann", "csv")
    assert cfg.dataset_options == {"angle": 30} and cfg.method_options == {"lambda": 6.0}


def test_docs_plugins_has_a_complete_example_of_every_hook():
    guide = (Path(__file__).parent.parent / "docs" / "plugins.md").read_text()
    hooks = [name for name, fn in inspect.getmembers(hookspecs, inspect.isfunction) if name.startswith("register_")]
    for name in hooks:
        assert f"### {name}\n" in guide and f"def {name}(" in guide, name
    for number, block in enumerate(re.findall(r"^```python\n(.*?)^```$", guide, flags=re.S | re.M)):
        compile(block, f"docs/plugins.md python block {number + 1}", "exec")
    for topic in ("## Errors", "## Testing with dann_core.testing", "## Versioning", "Entry-point names are global"):
        assert topic in guide, topic


def test_every_hook_is_documented():
    hooks = [name for name, fn in inspect.getmembers(hookspecs, inspect.isfunction) if name.startswith("register_")]
    assert hooks
    for name in hooks:
        assert f"`{name}" in README, name
        assert getattr(hookspecs, name).__doc__, name


def test_every_builtin_component_is_documented():
    registry = get_registry(get_plugin_manager(autoload=False))
    for kind in ("dataset", "backbone", "discriminator", "algorithm", "selector", "logger"):
        for name in registry.of_kind(kind):
            assert f"`{name}`" in README, f"{kind} {name}"


def test_the_examples_in_docs_plugins_pass_their_contract_checks():
    import types

    from dann_core import testing

    guide = (Path(__file__).parent.parent / "docs" / "plugins.md").read_text()
    blocks = re.findall(r"^```python\n(.*?)^```$", guide, flags=re.S | re.M)
    source = "\n".join(b for b in blocks if "DANN_PLUGIN_API" not in b and "check_dataset(" not in b)
    module = types.ModuleType("docs_plugins_examples")
    exec(compile("from dann_core import hookimpl\nfrom dann_core.specs import ComponentSpec\n" + source, "docs/plugins.md", "exec"), module.__dict__)
    registry = testing.registry_with(module)
    testing.check_dataset("blobs", {"n": 40}, registry=registry)
    testing.check_backbone("tiny-mlp", {"width": 8}, registry=registry)
    testing.check_discriminator("spectral", registry=registry)
    testing.check_algorithm("coral", {"weight": 0.5}, registry=registry)
    testing.check_selector("source-loss", registry=registry)
    testing.check_logger("text", registry=registry)
