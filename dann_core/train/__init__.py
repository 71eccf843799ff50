"""Training any method: the public API.

- :func:`train` (config, run_dir=None, quiet=True, data=None, registry=None) -> summary dict
- :func:`resume` (run_dir, quiet=True, data=None, registry=None) -> summary dict, identical to an uninterrupted run
- :func:`fit` (config, data=None, quiet=True, registry=None) -> :class:`TrainedRun`, in memory, selected weights loaded
- :func:`load_run` (run_dir, checkpoint="best", data=None, device="cpu", registry=None) -> :class:`TrainedRun`
- :class:`StoredRun` (run_dir): a run directory's evaluations, stored views and kept candidates, for selectors

Methods are plugins (:class:`dann_core.methods.Method`) run by the :class:`Engine`; see
:mod:`dann_core.train.rundir` for the run directory's files.
"""
from ..methods import Batch, Method, NonFiniteLossError
from .api import TrainedRun, fit, load_run, resume, train
from .assembly import build_components, build_dataset, resolve_device
from .engine import Engine
from .errors import DivergedError, RunError, WorkerLostError
from .evaluation import SELECTION
from .loop import Trainer
from .rundir import default_run_dir, read_run_config, read_summary
from .stored import StoredRun

__all__ = [
    "SELECTION",
    "Method",
    "Batch",
    "DivergedError",
    "Engine",
    "NonFiniteLossError",
    "RunError",
    "StoredRun",
    "TrainedRun",
    "Trainer",
    "WorkerLostError",
    "build_components",
    "build_dataset",
    "default_run_dir",
    "fit",
    "load_run",
    "read_run_config",
    "read_summary",
    "resolve_device",
    "resume",
    "train",
]


def __getattr__(name: str):  # Algorithm: the name of Method before "method" was used everywhere (one DeprecationWarning)
    from ..methods import base

    if name in base.DEPRECATED_NAMES:
        return base.deprecated(name, __name__)
    raise AttributeError(f"module '{__name__}' has no attribute '{name}'")
