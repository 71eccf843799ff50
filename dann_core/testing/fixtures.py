"""The pytest fixtures dann_core.testing provides (a pytest plugin through the ``pytest11`` entry point):
``dann_tiny_config``, ``dann_registry`` and ``dann_cli``."""
from __future__ import annotations

from typing import Any, Iterable

import pytest

from .core import plugin_name, registry_with, tiny_config

__all__ = ["dann_cli", "dann_registry", "dann_tiny_config"]


@pytest.fixture
def dann_tiny_config():
    """A fresh tiny moons RunConfig (change its fields freely, or use ``dataclasses.replace``)."""
    return tiny_config()


@pytest.fixture
def dann_registry():
    """``dann_registry(module, ...)``: the built-in plugins plus ``module`` registered by hand."""
    return registry_with


@pytest.fixture
def dann_cli(monkeypatch):
    """``dann_cli("run", "--steps", "4", plugins=[module])``: click's Result of the ``dann`` command line.

    ``plugins`` are registered by hand on the command line's plugin manager (besides the installed
    ones); the exception of a crash is re-raised rather than hidden in the Result.
    """
    from click.testing import CliRunner

    from .. import plugins as plugins_module
    from ..cli import build_cli

    def invoke(*args: str, plugins: Iterable[Any] = (), catch_exceptions: bool = False):
        plugins = list(plugins)
        if plugins:
            original = plugins_module.get_plugin_manager

            def with_plugins(autoload=None):
                pm = original(autoload=autoload)
                for module in plugins:
                    if not pm.is_registered(module) and pm.get_plugin(plugin_name(module)) is None:  # installed too (pip -e)
                        pm.register(module, name=plugin_name(module))
                return pm

            monkeypatch.setattr(plugins_module, "get_plugin_manager", with_plugins)
        try:
            return CliRunner().invoke(build_cli(), [str(arg) for arg in args], catch_exceptions=catch_exceptions)
        finally:
            if plugins:
                monkeypatch.setattr(plugins_module, "get_plugin_manager", original)

    return invoke
