"""First-party dann loggers plugin: jsonl (metrics.jsonl, always on), csv, tensorboard.

Wired through the ``dann`` entry point ``loggers = "dann_loggers"``; ``dann run --log csv,tensorboard``.
"""
from __future__ import annotations

from dann_core import hookimpl
from dann_core.specs import ComponentSpec


@hookimpl
def register_loggers() -> list[ComponentSpec]:
    """The built-in loggers."""
    return [
        ComponentSpec.from_reference("jsonl", "dann_loggers.jsonl:JsonlLogger"),
        ComponentSpec.from_reference("csv", "dann_loggers.csv_log:CsvLogger"),
        ComponentSpec.from_reference("tensorboard", "dann_loggers.tensorboard:TensorBoardLogger"),
    ]
