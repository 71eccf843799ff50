"""Metric loggers (hook ``register_loggers``): where each evaluation's record goes.

Every run with a run directory logs to ``jsonl`` (metrics.jsonl, which ``--resume`` and the
evaluation commands read); ``dann run --log csv,tensorboard`` adds others by name.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

ALWAYS_ON = "jsonl"


class Logger:
    """Receives one record per evaluation of a run. Subclass it and override :meth:`log`."""

    def log(self, record: dict[str, Any]) -> None:
        """Write one evaluation's record (``step`` is an int; ``selectors`` maps names to scores)."""
        raise NotImplementedError

    def resume(self, step: int) -> None:
        """A killed run continues from ``step``: forget what was logged after it."""

    def close(self) -> None:
        """The run ended: flush and release what the logger holds."""


def logger_names(setting: str) -> list[str]:
    """``"csv, tensorboard"`` → ``["jsonl", "csv", "tensorboard"]`` (jsonl first, once, always)."""
    names = [ALWAYS_ON]
    for name in (part.strip() for part in setting.split(",")):
        if name and name not in names:
            names.append(name)
    return names


def build_loggers(setting: str, run_dir: Path, registry) -> list[Logger]:
    """The loggers a run's ``log`` setting names, built from ``registry`` for ``run_dir``."""
    return [registry.build("logger", name, run_dir=Path(run_dir)) for name in logger_names(setting)]


def flatten(record: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"selectors": {"dev": 1.0}}`` → ``{"selectors.dev": 1.0}`` (for flat formats: CSV, TensorBoard)."""
    flat: dict[str, Any] = {}
    for key, value in record.items():
        if isinstance(value, dict):
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat
