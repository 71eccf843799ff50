""":func:`check_resume`: a method trained to its end, and again stopped (as Ctrl-C stops a run) and
resumed, must give the same run exactly: state a step uses that the checkpoint does not hold is caught."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from .core import ContractError, guard, registry_or_default, require, resolve, scratch_dir

__all__ = ["RESUME_EVAL_EVERY", "RESUME_STEPS", "check_resume"]

RESUME_STEPS, RESUME_EVAL_EVERY = 10, 4
"""The run :func:`check_resume` trains for a method name: evaluations (and checkpoints) at steps 4, 8 and 10."""


def check_resume(method: Any = "dann", options: dict | None = None, registry=None, stop_after: int | None = None, **settings: Any):
    """Train a tiny run to its end (the reference); train it again, stop it after step ``stop_after``
    the way Ctrl-C stops a run (the trainer's stop path, :mod:`dann_core.stops`) and resume it. Its
    metrics.jsonl lines, summary and final weights must equal the reference's exactly; returns the summary.

    ``method`` is a method name (trained on tiny moons with ``options`` and ``settings``, e.g.
    ``steps=12``, ``eval_every=5``, ``dataset="my-data"``) or a whole :class:`~dann_core.config.RunConfig`.
    ``stop_after`` defaults to a step between two checkpoints (6 of 10), so the resumed run must
    train steps 5 and 6 again exactly as they were: state a step uses that the checkpoint does not
    hold (a Python counter, a generator of the method's own) makes this raise ContractError naming
    the first step and metric that differ.
    """
    from ..config import RunConfig
    from ..metrics import MetricsLog

    registry = registry_or_default(registry)
    if isinstance(method, RunConfig):
        if options is not None or settings:
            raise ValueError("check_resume: pass a RunConfig alone, or a method name with options and settings")
        cfg = method
    elif isinstance(method, str):
        flags = {"steps": RESUME_STEPS, "eval_every": RESUME_EVAL_EVERY, **settings}
        cfg = resolve(registry, f"method '{method}'", method=method, method_options=dict(options or {}), **flags)
    else:
        raise ValueError(f"check_resume takes a method name or a RunConfig, not {type(method).__name__}")
    where = f"method '{cfg.method}'"
    if stop_after is None:
        stop_after = min(cfg.eval_every + max(1, cfg.eval_every // 2), cfg.steps - 1)
    if not 0 < stop_after < cfg.steps:
        raise ValueError(f"check_resume: stop_after={stop_after} must be a step from 1 to {cfg.steps - 1} (the run has {cfg.steps} steps)")
    with scratch_dir() as tmp:
        reference_dir, stopped_dir = Path(tmp) / "reference", Path(tmp) / "stopped"
        reference = guard(where, lambda: _run(cfg, reference_dir, registry))
        guard(where, lambda: _stopped_run(cfg, stopped_dir, registry, stop_after, where))
        resumed = guard(where, lambda: _resume(stopped_dir, registry))
        expected, got = MetricsLog(reference_dir / "metrics.jsonl").read(), MetricsLog(stopped_dir / "metrics.jsonl").read()
        how = f"{where} does not resume exactly (stopped after step {stop_after}, resumed from its checkpoint)"
        hint = "keep every state a step uses in the checkpoint (parameters, buffers, get_extra_state) and draw randomness from torch's global RNG"
        for before, after in zip(expected, got):
            difference = _first_difference(before, after)
            if difference is not None:
                raise ContractError(f"{how}: step {before.get('step')} logged {difference}; {hint}")
        require(len(expected) == len(got), f"{how}: metrics.jsonl has {len(got)} evaluations, the uninterrupted run {len(expected)}")
        drop = ("seconds", "eval_seconds", "run_dir")
        summaries = [{key: value for key, value in summary.items() if key not in drop} for summary in (reference, resumed)]
        difference = _first_difference(*summaries)
        require(difference is None, f"{how}: its summary has {difference}; {hint}")
        weights = [_load_weights(directory / "last.pt") for directory in (reference_dir, stopped_dir)]
        differing = next((key for key in weights[0] if key not in weights[1] or not _same_tensor(weights[0][key], weights[1][key])), None)
        require(differing is None, f"{how}: its final weights differ at '{differing}'; {hint}")
    return summaries[1]


def _run(cfg, run_dir: Path, registry) -> dict[str, Any]:
    from ..train import train

    return train(cfg, run_dir, registry=registry)


def _resume(run_dir: Path, registry) -> dict[str, Any]:
    from ..train import resume

    return resume(run_dir, registry=registry)


def _stopped_run(cfg, run_dir: Path, registry, stop_after: int, where: str) -> None:
    """Train ``cfg`` in ``run_dir`` and stop it after step ``stop_after`` as a recorded Ctrl-C does."""
    import signal

    from .. import stops
    from ..train import Trainer

    trainer = Trainer(cfg, run_dir=run_dir, registry=registry)
    trainer.start()
    feed = trainer.next_batch

    def next_batch():
        if trainer.method.steps_done + 1 == stop_after:  # the step about to be taken: the loop stops after it
            stops.handler(signal.SIGINT, None)
        return feed()

    trainer.next_batch = next_batch
    try:
        trainer.run()
    except KeyboardInterrupt:
        return
    raise ContractError(f"{where}: a run asked to stop after step {stop_after} trained to its end; "
                        "a custom training loop must leave stopping to the trainer")


def _first_difference(expected: dict, got: dict) -> str | None:
    """``key=got where the uninterrupted run had expected`` for the first key that differs, or None."""
    for key in list(expected) + [key for key in got if key not in expected]:
        if key not in got or key not in expected or expected[key] != got[key]:
            return f"{key}={got.get(key, '(missing)')!r} where the uninterrupted run has {expected.get(key, '(missing)')!r}"
    return None


def _load_weights(path: Path) -> dict[str, Any]:
    from .. import checkpoint

    return checkpoint.load(path)["method"]


def _same_tensor(a, b) -> bool:
    import torch

    if isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor):
        return a.shape == b.shape and a.dtype == b.dtype and bool(torch.equal(a, b))
    return a == b
