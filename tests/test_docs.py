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
    run, test = _sh_blocks()[:2]
    assert run.strip().endswith("dann run") and test.strip().endswith("pytest -q")
    assert run.strip().rsplit("&&", 1)[0] == test.strip().rsplit("&&", 1)[0]  # the same setup
    assert "--no-build-isolation" in run and "torch==2.14.1" in run
    assert README.index("```sh") < README.index("## ")  # before any section


def test_every_hook_is_documented():
    hooks = [name for name, fn in inspect.getmembers(hookspecs, inspect.isfunction) if name.startswith("register_")]
    assert hooks
    for name in hooks:
        assert f"`{name}" in README, name
        assert getattr(hookspecs, name).__doc__, name


def test_every_builtin_component_is_documented():
    registry = get_registry(get_plugin_manager(autoload=False))
    for kind in ("dataset", "backbone", "discriminator", "algorithm", "selector"):
        for name in registry.of_kind(kind):
            assert f"`{name}`" in README, f"{kind} {name}"
