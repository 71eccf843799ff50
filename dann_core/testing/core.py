"""What every check shares: the tiny run's settings, :class:`ContractError`, the registry helpers, and
the private helpers that build a component, resolve and train a tiny CPU run, and turn an exception
into one line naming the component."""
from __future__ import annotations

import contextlib
import dataclasses
import math
import tempfile
from pathlib import Path
from typing import Any, Iterator

TINY_SETTINGS: dict[str, Any] = {
    "steps": 20,
    "eval_every": 5,
    "batch_size": 16,
    "lr": 0.3,
    "method_options": {"lambda": "schedule"},
    "dataset_options": {"n_per_class": 30, "n_test_per_class": 40},
    "kernels": "reference",
}
"""Settings of a moons run that trains in well under a second (4 evaluations of 5 steps)."""

CHECK_STEPS = 4
"""Steps each contract check trains for (two evaluations)."""


class ContractError(AssertionError):
    """A component breaks its kind's contract; the message is one line naming it."""


def tiny_config(**changes: Any):
    """A fresh tiny moons :class:`~dann_core.config.RunConfig` with ``changes`` applied."""
    from ..config import RunConfig

    return dataclasses.replace(RunConfig(**TINY_SETTINGS), **changes)


def registry_with(*modules: Any, autoload: bool = False):
    """A registry of dann's built-in plugins (and the installed ones when ``autoload``) plus ``modules``
    registered by hand, as a plugin's tests see it before the package is installed."""
    from ..plugins import check_hook_names, get_plugin_manager, get_registry

    pm = get_plugin_manager(autoload=autoload)
    for module in modules:
        if pm.get_plugin(plugin_name(module)) is None and not pm.is_registered(module):
            pm.register(module, name=plugin_name(module))
    check_hook_names(pm)
    return get_registry(pm)


def plugin_name(module: Any) -> str:
    """The name a module (or plugin object) registered by hand goes by."""
    return getattr(module, "__name__", None) or type(module).__name__


def registry_or_default(registry):
    from ..plugins import get_registry

    return registry if registry is not None else get_registry()


def build(registry, kind: str, name: str, options: dict | None, **context: Any):
    """``registry.build(...)``; ContractError naming the component when its factory raises."""
    try:
        return registry.build(kind, name, dict(options or {}), **context)
    except Exception as exc:
        raise ContractError(f"{kind} '{name}' could not be built: {first_line(exc)}") from exc


def resolve(registry, where: str, **settings: Any):
    """The RunConfig of a tiny CPU run (CHECK_STEPS steps unless ``settings`` say otherwise) with the
    components' recommendations; ``*_options`` tables are merged over the recommended options."""
    from .. import config

    flags = {"steps": CHECK_STEPS, "eval_every": CHECK_STEPS // 2, "batch_size": 8, "kernels": "reference", "device": "cpu", "threads": 1}
    if settings.get("dataset", "moons") == "moons" and "dataset_options" not in settings:
        settings["dataset_options"] = dict(TINY_SETTINGS["dataset_options"])
    tables = {key: settings.pop(key) for key in list(settings) if key.endswith("_options")}
    try:
        cfg = config.resolve(flags={**flags, **settings}, registry=registry)
        return dataclasses.replace(cfg, **{key: {**getattr(cfg, key), **value} for key, value in tables.items()})
    except ValueError as exc:
        raise ContractError(f"{where}: {first_line(exc)}") from exc


def train_tiny(registry, where: str, **settings: Any) -> dict[str, Any]:
    """A CHECK_STEPS-step run with the component's recommendations, in a scratch directory: its summary and records."""
    from ..metrics import MetricsLog
    from ..train import train

    cfg = resolve(registry, where, **settings)
    with scratch_dir() as tmp:
        summary = guard(where, lambda: train(cfg, Path(tmp) / "run", registry=registry))
        records = MetricsLog(Path(tmp) / "run" / "metrics.jsonl").read()
    require(len(records) == 2, f"{where}: a {CHECK_STEPS}-step run logged {len(records)} evaluations, expected 2")
    for record in records:
        bad = {key: value for key, value in record.items() if isinstance(value, float) and not math.isfinite(value)}
        require(not bad, f"{where}: step {record['step']} logged non-finite metrics {bad}")
    return {"summary": {k: v for k, v in summary.items() if k not in ("seconds", "run_dir")}, "records": records}


def guard(where: str, call):
    """``call()``; any exception but a ContractError becomes one naming ``where``."""
    try:
        return call()
    except ContractError:
        raise
    except Exception as exc:
        raise ContractError(f"{where} failed: {type(exc).__name__}: {first_line(exc)}") from exc


def require(condition: bool, message: str) -> None:
    if not condition:
        raise ContractError(message)


def first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


@contextlib.contextmanager
def scratch_dir() -> Iterator[str]:
    with tempfile.TemporaryDirectory(prefix="dann-check-") as tmp:
        yield tmp
