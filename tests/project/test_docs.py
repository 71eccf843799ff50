"""The front page and the manual stay true.

README.md: its two leading commands (CI runs them). docs/: every hook (plugins.md), every built-in
component on the page of its kind (KIND_PAGES), every page linked from both indexes, every relative
link and anchor resolving, one word per concept.
"""
from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from dann_core import hookspecs
from dann_core.plugins import get_plugin_manager, get_registry
from tests.paths import ROOT

DOCS = ROOT / "docs"
README = (ROOT / "README.md").read_text()
PAGES = sorted(p.name for p in DOCS.glob("*.md") if p.name != "README.md")
MARKDOWN = [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]

# Where each kind of built-in component is documented: (page, section heading).
KIND_PAGES = {
    "dataset": ("components.md", "## Datasets"),
    "backbone": ("components.md", "## Backbones"),
    "discriminator": ("components.md", "## Discriminators"),
    "logger": ("components.md", "## Loggers"),
    "method": ("methods.md", "## Built-in methods"),
    "selector": ("selection.md", "## Built-in selectors"),
}


def _hooks() -> list[str]:
    """The current hooks (an old name, register_algorithms, is documented under Versioning only)."""
    from dann_core.plugins.kinds import LEGACY_HOOKS

    return [name for name, fn in inspect.getmembers(hookspecs, inspect.isfunction) if name.startswith("register_") and name not in LEGACY_HOOKS]


def _sh_blocks() -> list[str]:
    return re.findall(r"^```sh\n(.*?)^```$", README, flags=re.S | re.M)


def _section(text: str, heading: str) -> str:
    """The text under ``heading`` up to the next heading of the same or a higher level."""
    level = heading.split(" ", 1)[0]
    start = text.index(heading + "\n")
    end = re.search(rf"^#{{1,{len(level)}}} ", text[start + len(heading):], flags=re.M)
    return text[start: start + len(heading) + end.start()] if end else text[start:]


def _without_code(text: str) -> str:
    text = re.sub(r"^```.*?^```$", "", text, flags=re.S | re.M)
    return re.sub(r"`[^`]*`", "", text)  # code spans may wrap lines


def _anchors(text: str) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces as hyphens."""
    headings = re.findall(r"^#+ (.+)$", re.sub(r"^```.*?^```$", "", text, flags=re.S | re.M), flags=re.M)
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in headings}


def _links(path: Path) -> list[str]:
    return re.findall(r"\]\(([^)\s]+)\)", re.sub(r"^```.*?^```$", "", path.read_text(), flags=re.S | re.M))


def test_readme_leads_with_the_setup_and_run_and_the_setup_and_test_commands():
    run, test = (block.strip() for block in _sh_blocks()[:2])
    setup = run.rsplit("&&", 1)[0]
    # the same setup, block 2 adding the optional extras whose tests would otherwise skip
    assert run.endswith("dann run") and test.startswith(setup.replace("'.[test]'", "'.[test,search,slurm,ray,tensorboard]'") + "&&")
    assert "--no-build-isolation" in run and "torch==2.14.1" in run
    # CI (.ci/run runs this block) installs the example plugin into the venv, then runs both test suites
    assert "&& .venv/bin/pip install --no-build-isolation --no-deps ./examples/dann-plugin-example &&" in test
    assert test.endswith("&& .venv/bin/ruff check && .venv/bin/pytest -q -n 2 --dist worksteal && .venv/bin/pytest -q examples/dann-plugin-example")
    assert README.index("```sh") < README.index("## ")  # before any section


def test_readme_is_a_front_page():
    assert len(README.splitlines()) <= 200


def test_the_documented_config_file_resolves_as_shown(tmp_path):
    from dann_core import config

    page = (DOCS / "configuration.md").read_text()
    block = re.search(r"^```toml\n(steps = .*?)^```$", page, flags=re.S | re.M).group(1)
    (tmp_path / "run.toml").write_text(block)
    cfg = config.resolve(tmp_path / "run.toml", recommend=False, registry=get_registry(get_plugin_manager(autoload=False)))
    assert (cfg.dataset, cfg.backbone, cfg.discriminator, cfg.method, cfg.log) == ("moons", "mlp", "mlp", "dann", "csv")
    assert cfg.dataset_options == {"angle": 30} and cfg.method_options == {"lambda": 6.0}


def test_docs_plugins_has_a_complete_example_of_every_hook():
    guide = (DOCS / "plugins.md").read_text()
    hooks = _hooks()
    assert hooks
    for name in hooks:
        assert f"### {name}\n" in guide and f"def {name}(" in guide, name
        assert getattr(hookspecs, name).__doc__, name
    for number, block in enumerate(re.findall(r"^```python\n(.*?)^```$", guide, flags=re.S | re.M)):
        compile(block, f"docs/plugins.md python block {number + 1}", "exec")
    for topic in ("## Errors", "## Testing with dann_core.testing", "## Versioning", "Entry-point names are global"):
        assert topic in guide, topic


@pytest.mark.parametrize("kind", sorted(KIND_PAGES))
def test_every_builtin_component_is_documented_on_its_kinds_page(kind):
    page, heading = KIND_PAGES[kind]
    section = _section((DOCS / page).read_text(), heading)
    names = get_registry(get_plugin_manager(autoload=False)).of_kind(kind)
    assert names, kind
    missing = [name for name in names if f"`{name}`" not in section]
    assert not missing, f"docs/{page} '{heading}' does not name the built-in {kind}s {missing}"


def test_every_docs_page_is_linked_from_the_readme_and_the_docs_index():
    index = (DOCS / "README.md").read_text()
    assert PAGES
    for page in PAGES:
        assert f"](docs/{page})" in README, f"README.md does not link docs/{page}"
        assert f"]({page})" in index, f"docs/README.md does not link {page}"


@pytest.mark.parametrize("path", MARKDOWN, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_points_to_a_file_and_heading_that_exist(path):
    for link in _links(path):
        if re.match(r"[a-z]+:", link):
            continue  # a web address
        target, _, anchor = link.partition("#")
        file = (path.parent / target).resolve() if target else path
        assert file.exists(), f"{path.relative_to(ROOT)}: link to missing {target}"
        if anchor and file.suffix == ".md":
            assert anchor in _anchors(file.read_text()), f"{path.relative_to(ROOT)}: no heading #{anchor} in {target or path.name}"


@pytest.mark.parametrize("path", MARKDOWN, ids=lambda p: str(p.relative_to(ROOT)))
def test_the_docs_say_method_and_lambda_in_prose(path):
    # Code names (the package dann_methods, the old names register_algorithms and Algorithm) stay in code spans.
    prose = re.sub(r"\bregister_\w+", "", _without_code(path.read_text()))
    for word in (r"algorithms?", r"lambd", r"lambda_"):
        found = re.findall(rf"^.*\b{word}\b.*$", prose, flags=re.M | re.I)
        assert not found, f"{path.relative_to(ROOT)} says {word!r} in prose: {found[0].strip()}"


def test_the_example_plugin_readme_links_resolve():
    path = ROOT / "examples" / "dann-plugin-example" / "README.md"
    for link in _links(path):
        if not re.match(r"[a-z]+:", link) and not link.startswith("#"):
            assert (path.parent / link.partition("#")[0]).exists(), link


def test_the_examples_in_docs_plugins_pass_their_contract_checks():
    import types

    from dann_core import testing

    guide = (DOCS / "plugins.md").read_text()
    blocks = re.findall(r"^```python\n(.*?)^```$", guide, flags=re.S | re.M)
    source = "\n".join(b for b in blocks if "DANN_PLUGIN_API" not in b and "check_dataset(" not in b)
    module = types.ModuleType("docs_plugins_examples")
    exec(compile("from dann_core import hookimpl\nfrom dann_core.specs import ComponentSpec\n" + source, "docs/plugins.md", "exec"), module.__dict__)
    registry = testing.registry_with(module)
    testing.check_dataset("blobs", {"n": 40}, registry=registry)
    testing.check_backbone("tiny-mlp", {"width": 8}, registry=registry)
    testing.check_discriminator("spectral", registry=registry)
    testing.check_method("coral", {"weight": 0.5}, registry=registry)
    testing.check_resume("coral", {"weight": 0.5}, registry=registry)
    testing.check_selector("source-loss", registry=registry)
    testing.check_logger("text", registry=registry)
