"""Fixtures and one-line contract checks for dann plugin authors; a pytest plugin (entry point ``pytest11``).

Installed with dann, so a plugin package's tests need no conftest::

    from dann_core.testing import check_dataset, registry_with
    import my_plugin

    def test_my_dataset():
        check_dataset("my-data", registry=registry_with(my_plugin))

Each ``check_*`` builds the component through the registry (as a run does), validates what the
factory returns, trains a tiny run with it for a few steps on the CPU and returns what it built. A
broken contract raises :class:`ContractError` (an AssertionError) with one line naming the component.
:func:`check_method` also checks a method under ``precision="bf16"`` or ``compile=True``.
:func:`check_resume` trains a method to the end, then stopped (as Ctrl-C stops a run) and resumed, and
compares the two exactly: state a step uses that the checkpoint does not hold is caught there.

Fixtures: ``dann_tiny_config`` (a fresh tiny :class:`~dann_core.config.RunConfig` on moons),
``dann_registry`` (``dann_registry(module, ...)``: a registry of the installed first-party plugins
plus modules registered by hand) and ``dann_cli`` (``dann_cli("run", "--dataset", "x", plugins=[module])``:
runs the ``dann`` command line in-process and returns click's Result).

The modules: :mod:`.core` (the tiny run, :class:`ContractError`, registries), :mod:`.components`
(datasets, backbones, discriminators, selectors, loggers), :mod:`.methods`, :mod:`.resume` and
:mod:`.fixtures`; every public name is importable from ``dann_core.testing``.
"""
from __future__ import annotations

from .components import check_backbone, check_dataset, check_discriminator, check_logger, check_selector
from .core import CHECK_STEPS, TINY_SETTINGS, ContractError, registry_with, tiny_config
from .fixtures import dann_cli, dann_registry, dann_tiny_config
from .methods import VARIANT_PRECISIONS, check_algorithm, check_method
from .resume import RESUME_EVAL_EVERY, RESUME_STEPS, check_resume

__all__ = [
    "CHECK_STEPS", "RESUME_EVAL_EVERY", "RESUME_STEPS", "TINY_SETTINGS", "VARIANT_PRECISIONS", "ContractError",
    "check_algorithm", "check_backbone", "check_dataset", "check_discriminator", "check_logger", "check_method", "check_resume",
    "check_selector", "dann_cli", "dann_registry", "dann_tiny_config", "registry_with", "tiny_config",
]
