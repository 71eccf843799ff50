"""The run directory's files and the rules for creating, reading and continuing one.

Files (all written by rank 0 of a run with a directory)::

    config.json     the resolved RunConfig, plus "provenance": the plugin, distribution and version
                    of each component and the recommended settings that took effect
    metrics.jsonl   one line per evaluation: step, means of the step metrics since the previous
                    line (label_loss, train_acc, domain_loss, domain_acc), λ and lr of the last step,
                    source_val_acc, target_test_acc and the scores of the selectors scored per evaluation
    last.pt         everything needed to resume: weights, optimisers, step, sampler and RNG states
    best.pt         the checkpoint the run's selector (--select) chooses (ties go to the later step)
    candidates/     the kept candidate checkpoints (the last, the best few per scored selector) for
                    ``dann eval select``
    views/          per evaluation, the logits of the fixed selection views (source_val, the target
                    subsample) when they cost no extra decoding: ``dann eval select`` scores
                    logit-only selectors at every evaluated step from them
    summary.json    written when the run finishes

Order of writes at an evaluation: the metrics line, then the candidate and best.pt, then last.pt,
so a run killed anywhere resumes from last.pt, drops the lines logged after it and replays the same steps.
"""
from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from .. import config as config_io
from .. import files
from ..config import RunConfig
from ..plugins import get_registry
from .assembly import check_installed
from .errors import RunError

CHECKPOINT_FORMAT = 2
RUN_FILES = ("config.json", "metrics.jsonl", "last.pt", "best.pt", "summary.json")


def default_run_dir(cfg: RunConfig) -> Path:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    return Path("runs") / f"{cfg.dataset}-{cfg.method}-s{cfg.seed}-{stamp}"


def check_new_run_dir(run_dir: Path) -> None:
    """RunError unless ``run_dir`` is missing or an empty directory (a new run never touches other files)."""
    if not run_dir.exists():
        return
    if not run_dir.is_dir():
        raise RunError(f"{run_dir} is a file, not a directory; pick another --out")
    if not any(run_dir.iterdir()):
        return
    if (run_dir / "last.pt").exists() and (run_dir / "config.json").exists():
        raise RunError(f"{run_dir} already holds a run; continue it with --resume {run_dir} or pick another --out")
    raise RunError(f"{run_dir} is not empty and holds no resumable run; a run needs a new or empty directory: pick another --out")


def create(run_dir: Path, write: Callable[[], None]) -> None:
    """Make ``run_dir`` a run directory by calling ``write()``; only a missing or empty directory
    qualifies (a user's files are never overwritten), and a failed write removes what it wrote."""
    check_new_run_dir(run_dir)
    created = not run_dir.exists()
    run_dir.mkdir(parents=True, exist_ok=True)
    try:
        write()
    except BaseException:
        for name in RUN_FILES:
            (run_dir / name).unlink(missing_ok=True)
        files.sweep_temporaries(run_dir, RUN_FILES)
        if created:
            run_dir.rmdir()
        raise


def read_summary(run_dir: Path) -> dict[str, Any] | None:
    """The run's summary.json, or None when it is missing or unreadable (loading a run does not need it)."""
    try:
        summary = files.read_json(run_dir / "summary.json")
    except (OSError, ValueError):
        return None
    return summary if isinstance(summary, dict) else None


def read_run_config(run_dir: Path, registry):
    """(the run's config, the registry to use), having checked the run's components are installed."""
    path = run_dir / "config.json"
    if not path.exists():
        raise RunError(f"{run_dir} is not a run directory (no config.json)")
    cfg = config_io.load(path)
    registry = registry if registry is not None else get_registry()
    check_installed(cfg, config_io.load_provenance(path), registry)
    return cfg, registry


def check_format(state: dict[str, Any], path: Path) -> None:
    if "format" not in state:
        raise RunError(f"{path} is not a dann run checkpoint (no format entry); restore the run's own {path.name} or retrain")
    if state.get("format") != CHECKPOINT_FORMAT:
        raise RunError(f"{path} has checkpoint format {state.get('format')}, this dann reads format {CHECKPOINT_FORMAT}; retrain the run")


def check_data_source(state: dict[str, Any], explicit_data: bool, run_dir: Path) -> None:
    if state.get("explicit_data") and not explicit_data:
        raise RunError(f"{run_dir} was trained on data passed to train(data=...); pass the same data again")


def load_matching(path: Path, load: Callable[[], None]) -> None:
    """Run ``load()``; RunError naming ``path`` when its tensors do not fit the run's networks."""
    try:
        load()
    except RunError:
        raise
    except (RuntimeError, KeyError, TypeError, ValueError) as exc:
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise RunError(f"{path} does not fit this run's config.json ({reason[:160]}); was config.json edited? restore it or retrain") from None
