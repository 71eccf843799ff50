"""TensorBoard event files through torch.utils.tensorboard (needs the tensorboard package)."""
from __future__ import annotations

from pathlib import Path

from dann_core.loggers import Logger, flatten


class TensorBoardLogger(Logger):
    """Scalars of each evaluation under ``<run_dir>/<subdir>`` (``tensorboard --logdir RUN_DIR``)."""

    def __init__(self, run_dir: Path, subdir: str = "tensorboard") -> None:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise ValueError("logger 'tensorboard' needs the tensorboard package: pip install tensorboard") from None
        self.make_writer = lambda purge_step=None: SummaryWriter(str(Path(run_dir) / subdir), purge_step=purge_step)
        self.writer = None

    def log(self, record):
        if self.writer is None:  # created at the first record: building the logger writes nothing
            self.writer = self.make_writer()
        step = record["step"]
        for key, value in flatten(record).items():
            if key != "step" and isinstance(value, (int, float)) and not isinstance(value, bool):
                self.writer.add_scalar(key, value, step)
        self.writer.flush()

    def resume(self, step):
        self.writer = self.make_writer(purge_step=step + 1)

    def close(self):
        if self.writer is not None:
            self.writer.close()
