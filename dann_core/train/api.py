"""The public API of training: train, resume, fit, load_run.

Every function takes ``registry=``: the Registry of the plugins to build from (the CLI passes the
one it built, honouring --no-plugins; tests pass one with a module registered by hand). None means
the installed plugins. ``dann run`` is :func:`start_run` or :func:`restore_run`, then :func:`finish`:
the steps of :func:`train` and :func:`resume`, with its own lines printed between them.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from .. import checkpoint as ckpt
from ..methods import Method
from ..config import RunConfig
from ..specs import DomainData
from . import rundir
from .assembly import build_components, resolve_device, restore_normalization
from .engine import Engine
from .errors import MethodContractError, RunError, warn_renamed
from .loop import Trainer


@dataclass
class TrainedRun:
    """A trained model with what it was trained on.

    ``summary`` is the run's summary (None when loaded from a run that never finished); ``step`` the
    step of the loaded weights; ``checkpoint`` the file they came from (None for in-memory runs).
    """

    config: RunConfig
    model: torch.nn.Module
    data: DomainData
    step: int
    summary: dict[str, Any] | None = None
    checkpoint: Path | None = None
    method: Method | None = None

    @property
    def algorithm(self) -> Method | None:
        """Deprecated name of :attr:`method` (one DeprecationWarning)."""
        warn_renamed("TrainedRun.algorithm", "TrainedRun.method")
        return self.method


def train(
    config: RunConfig,
    run_dir: str | Path | None = None,
    quiet: bool = True,
    data: DomainData | None = None,
    registry=None,
) -> dict[str, Any]:
    """Train one run and return its summary.

    Args:
        config: the resolved run config.
        run_dir: where to write config.json, metrics.jsonl, last.pt, best.pt and summary.json; None
            trains in memory and writes nothing.
        quiet: no progress bar (it is also hidden when stderr is not a terminal).
        data: train on this :class:`DomainData` instead of building ``config.dataset`` (e.g. reverse
            validation's pseudo-labelled data). ``resume``/``load_run`` then need it passed again.
        registry: the plugin registry to build the components from.

    Raises:
        RunError: a run that cannot start (existing run dir, no target labels for the method, ...).
        DivergedError: a NaN/inf loss; the run directory keeps the last good checkpoint.
        dann_core.plugins.UnknownComponentError / InvalidOptionError: bad component names or options.
    """
    return finish(start_run(config, run_dir, quiet, data, registry))


def resume(run_dir: str | Path, quiet: bool = True, data: DomainData | None = None, registry=None) -> dict[str, Any]:
    """Continue the run in ``run_dir`` from its last.pt to ``config.steps``; returns the summary.

    The result equals that of the uninterrupted run: step counter, schedules, sampler positions and
    RNG states all come from the checkpoint, and metrics.jsonl lines after it are dropped. A run
    that already finished is left untouched and its summary returned.
    """
    trainer = restore_run(run_dir, quiet, data, registry)
    return rundir.read_summary(trainer.source_dir) if trainer.finished else finish(trainer)


def start_run(config: RunConfig, run_dir: str | Path | None = None, quiet: bool = True, data: DomainData | None = None,
              registry=None) -> Trainer:
    """The first half of :func:`train`: the run's :class:`Trainer`, its directory created (config.json,
    a step-0 last.pt); :func:`finish` trains it."""
    trainer = Trainer(config, data=data, run_dir=Path(run_dir) if run_dir is not None else None, quiet=quiet, registry=registry)
    trainer.start()
    return trainer


def restore_run(run_dir: str | Path, quiet: bool = True, data: DomainData | None = None, registry=None) -> Trainer:
    """The first half of :func:`resume`: the :class:`Trainer` of the run in ``run_dir``, restored from
    its last.pt. ``trainer.finished``: the run already ended (nothing to train, summary.json stands);
    ``trainer.restarted``: it had stopped before its first checkpoint; ``trainer.summary_damage``: its
    summary.json was damaged (one line) and finishing writes it again. Otherwise :func:`finish` it."""
    run_dir = Path(run_dir)
    cfg, registry = rundir.read_run_config(run_dir, registry)
    # restoring: a checkpoint's weights replace the initial ones (none for a run stopped before its first)
    trainer = Trainer(cfg, data=data, run_dir=run_dir, quiet=quiet, registry=registry, restoring=(run_dir / "last.pt").exists())
    trainer.restore()
    return trainer


def finish(trainer: Trainer) -> dict[str, Any]:
    """Train a :func:`start_run` or :func:`restore_run` trainer to its last step; the summary. A method
    that breaks its contract before the first evaluation leaves no directory behind when the trainer
    created it (:exc:`MethodContractError` is raised still)."""
    try:
        return trainer.run()
    except MethodContractError:
        if trainer.created:
            rundir.discard_unstarted(trainer.run_dir)
        raise


def fit(config: RunConfig, data: DomainData | None = None, quiet: bool = True, registry=None) -> TrainedRun:
    """Train in memory (no files) and return the model with the selected weights loaded."""
    trainer = Trainer(config, data=data, quiet=quiet, registry=registry)
    summary = trainer.run()
    method = trainer.method
    if trainer.evaluation.best_state is not None:
        method.load_state_dict(trainer.evaluation.best_state)
    step = summary["best_step"] or config.steps
    return TrainedRun(config, method.model.eval(), trainer.data, step, summary, None, method.eval())


def load_run(
    run_dir: str | Path,
    checkpoint: str = "best",
    data: DomainData | None = None,
    device: str = "cpu",
    registry=None,
) -> TrainedRun:
    """Rebuild a run's data and method and load ``best.pt`` or ``last.pt``; the model is in eval mode.

    Pass ``data`` for runs trained on explicit data (it cannot be rebuilt from the config). The global
    RNGs (torch's, CUDA's, NumPy's, Python's) are as they were before the call: the run is built
    under its seed, in a script that goes on drawing from its own.
    """
    run_dir = Path(run_dir)
    if checkpoint not in ("best", "last"):
        raise ValueError(f"checkpoint must be 'best' or 'last', got '{checkpoint}'")
    path = run_dir / f"{checkpoint}.pt"
    cfg, registry = rundir.read_run_config(run_dir, registry)
    if not path.exists():
        raise RunError(f"{run_dir} has no {path.name} (a run writes best.pt at its first evaluation)")
    device = resolve_device(device)
    state = ckpt.load(path, map_location=device)
    rundir.check_format(state, path)
    rundir.check_data_source(state, data is not None, run_dir)
    with global_rngs_kept(device):
        data, method = build_components(cfg, data, registry, restoring=True)
    restore_normalization(method, data, state)
    rundir.load_matching(path, lambda: Engine(method, "cpu").load_state_dict(state, optimizers=False))
    method.to(device).eval()
    return TrainedRun(cfg, method.model, data, int(state["step"]), rundir.read_summary(run_dir), path, method)


@contextlib.contextmanager
def global_rngs_kept(device: torch.device):
    """Put the global RNGs back as they were on leaving: torch's CPU generator, NumPy's and Python's,
    every CUDA device's (initialised first when the block is to use ``device`` on CUDA, so its state is
    known) and, CUDA not initialised, the seed torch queues for its initialisation (``torch.manual_seed``
    queues one on machines without a GPU too)."""
    if device.type == "cuda":
        torch.cuda.init()
    saved = ckpt.rng_state()  # CUDA's only when initialised
    lazy = getattr(torch.cuda, "_lazy_seed_tracker", None) if not torch.cuda.is_initialized() else None
    queued = dict(vars(lazy)) if lazy is not None else None
    try:
        yield
    finally:
        ckpt.set_rng_state(saved)
        if queued is not None:
            vars(lazy).update(queued)
