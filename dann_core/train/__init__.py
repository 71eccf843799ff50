"""Training any method: the public API.

- :func:`train` (config, run_dir=None, quiet=True, data=None, registry=None) -> summary dict
- :func:`resume` (run_dir, quiet=True, data=None, registry=None) -> summary dict, identical to an uninterrupted run
- :func:`fit` (config, data=None, quiet=True, registry=None) -> :class:`TrainedRun`, in memory, best weights loaded
- :func:`load_run` (run_dir, checkpoint="best", data=None, device="cpu", registry=None) -> :class:`TrainedRun`

Methods are plugins (:class:`dann_core.algorithms.Algorithm`); see :mod:`dann_core.train.loop` for
the run directory's files and the model-selection rule.
"""
from ..algorithms import Algorithm, Batch, NonFiniteLossError
from .loop import SELECTION, DivergedError, RunError, Trainer, TrainedRun, build_components, fit, load_run, resume, train

__all__ = [
    "SELECTION",
    "Algorithm",
    "Batch",
    "DivergedError",
    "NonFiniteLossError",
    "RunError",
    "TrainedRun",
    "Trainer",
    "build_components",
    "fit",
    "load_run",
    "resume",
    "train",
]
