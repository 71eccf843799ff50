"""metrics.csv: one row per evaluation, nested keys flattened (``selectors.dev``)."""
from __future__ import annotations

import csv
import io
from pathlib import Path

from dann_core import files
from dann_core.loggers import Logger, flatten


class CsvLogger(Logger):
    """metrics.csv in the run directory, rewritten atomically at each evaluation (columns may grow)."""

    def __init__(self, run_dir: Path, filename: str = "metrics.csv") -> None:
        self.path = Path(run_dir) / filename
        self.rows: list[dict] = []

    def log(self, record):
        self.rows.append(flatten(record))
        self._write()

    def resume(self, step):
        if self.path.exists():
            with self.path.open(newline="") as file:
                self.rows = [row for row in csv.DictReader(file) if int(row["step"]) <= step]
            self._write()

    def _write(self) -> None:
        columns = list(dict.fromkeys(key for row in self.rows for key in row))
        text = io.StringIO()
        writer = csv.DictWriter(text, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(self.rows)
        files.write_text(text.getvalue(), self.path)
