"""Training DANN and its baselines: the public API.

- :func:`train` (config, run_dir=None, quiet=True, data=None) -> summary dict
- :func:`resume` (run_dir, quiet=True, data=None) -> summary dict, identical to an uninterrupted run
- :func:`fit` (config, data=None, quiet=True) -> :class:`TrainedRun`, in memory, best weights loaded
- :func:`load_run` (run_dir, checkpoint="best", data=None, device="cpu") -> :class:`TrainedRun`
- :class:`DANN`: the algorithm (``update(batch) -> metrics``, ``predict(x)``) for custom loops

See :mod:`dann_core.train.loop` for the run directory's files and the model-selection rule.
"""
from .algorithm import DANN, Batch, NonFiniteLossError
from .loop import SELECTION, DivergedError, RunError, Trainer, TrainedRun, fit, load_run, resume, train

__all__ = [
    "DANN",
    "SELECTION",
    "Batch",
    "DivergedError",
    "NonFiniteLossError",
    "RunError",
    "TrainedRun",
    "Trainer",
    "fit",
    "load_run",
    "resume",
    "train",
]
