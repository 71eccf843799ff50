"""First-party dann loggers plugin: jsonl (metrics.jsonl, always on), csv, tensorboard.

Wired through the ``dann`` entry point ``loggers = "dann_loggers"``; ``dann run --log csv,tensorboard``.
"""
from __future__ import annotations

from dann_core import hookimpl
from dann_core.specs import ComponentSpec


@hookimpl
def register_loggers() -> list[ComponentSpec]:
    """The built-in loggers."""
    from .csv_log import CsvLogger
    from .jsonl import JsonlLogger
    from .tensorboard import TensorBoardLogger

    return [
        ComponentSpec.from_factory("jsonl", JsonlLogger),
        ComponentSpec.from_factory("csv", CsvLogger),
        ComponentSpec.from_factory("tensorboard", TensorBoardLogger),
    ]
