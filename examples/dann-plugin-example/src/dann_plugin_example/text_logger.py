"""``text``: metrics.txt, one readable line per evaluation."""
from __future__ import annotations

from pathlib import Path

from dann_core import files
from dann_core.loggers import Logger, flatten


class TextLogger(Logger):
    """``step 20: label_loss=0.3123 source_val_acc=0.9500 ...`` lines in ``<run_dir>/<filename>``."""

    def __init__(self, run_dir: Path, filename: str = "metrics.txt", digits: int = 4) -> None:
        self.path = Path(run_dir) / filename
        self.digits = digits
        self.lines: list[tuple[int, str]] = []

    def log(self, record):
        shown = " ".join(f"{key}={self._show(value)}" for key, value in flatten(record).items() if key != "step")
        self.lines.append((record["step"], f"step {record['step']}: {shown}"))
        files.write_text("".join(line + "\n" for _, line in self.lines), self.path)

    def resume(self, step):
        if self.path.exists():
            kept = [line for line in self.path.read_text().splitlines() if int(line.split()[1].rstrip(":")) <= step]
            self.lines = [(int(line.split()[1].rstrip(":")), line) for line in kept]

    def _show(self, value) -> str:
        return f"{value:.{self.digits}f}" if isinstance(value, float) else str(value)
