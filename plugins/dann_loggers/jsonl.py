"""metrics.jsonl: one JSON object per evaluation (the run's own record; always on)."""
from __future__ import annotations

from pathlib import Path

from dann_core.loggers import Logger
from dann_core.metrics import MetricsLog


class JsonlLogger(Logger):
    """metrics.jsonl in the run directory, each line flushed and fsynced (``--resume`` reads it back)."""

    def __init__(self, run_dir: Path) -> None:
        self.metrics = MetricsLog(Path(run_dir) / "metrics.jsonl")

    def log(self, record):
        self.metrics.append(record)

    def resume(self, step):
        self.metrics.truncate_after(step)
