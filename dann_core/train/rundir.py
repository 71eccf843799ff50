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
    views/          per evaluation, the logits of the fixed selection views it computed anyway
                    (source_val; the target subsample when a scored selector read it): ``dann eval
                    select`` scores logit-only selectors at every evaluated step from them
    summary.json    written when the run finishes
    select-cache.json  scores ``dann eval select`` computed for the kept candidates (reverse-val)
    .lock           held (flock) by the one process that writes the run, for as long as it runs; it
                    holds that process's id, which a second writer is told (removed when it ends; :mod:`.runlock`)

Order of writes at an evaluation: the metrics line, then the candidate and best.pt, then last.pt,
so a run killed anywhere resumes from last.pt, drops the lines logged after it and replays the same steps.
A run killed after config.json and before its first last.pt (which :func:`create` writes at step 0)
holds only config.json: :func:`started_without_checkpoint` recognises it, and ``--resume`` starts it
again from step 0.

Nothing is written or deleted through a symbolic link inside a run directory
(:func:`dann_core.files.refuse_links`).
"""
from __future__ import annotations

import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from .. import config as config_io
from .. import files
from .. import run_summary as summary_file
from ..config import RunConfig
from ..plugins import get_registry
from .assembly import check_installed
from .errors import RunError
from .runlock import LOCK_FILE, RunLock, lock  # the lock of a run directory: .runlock

summary_damage = summary_file.damage  # one line naming a damaged summary.json, or None

CHECKPOINT_FORMAT = 3
READABLE_FORMATS = (2, 3)
"""Formats this dann reads: 2 stored the method under ``algorithm`` (renamed on load, :func:`dann_core.checkpoint.upgrade`)."""
RUN_FILES = ("config.json", "metrics.jsonl", "last.pt", "best.pt", "summary.json")


def default_run_dir(cfg: RunConfig) -> Path:
    """``runs/<dataset>-<method>-s<seed>-<time>``; the method with its regularisers (``dann+mcc``), so a
    composition is not named like the plain method."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    return Path("runs") / f"{cfg.dataset}-{method_label(cfg)}-s{cfg.seed}-{stamp}"


def method_label(cfg: RunConfig) -> str:
    """``dann``, or ``dann+mcc+bsp`` for ``--set method.plus=mcc,bsp`` (names of the ``plus`` option)."""
    import re

    plus = cfg.method_options.get("plus") or ""
    names = re.split(r"[,+\s]+", plus) if isinstance(plus, str) else [str(name) for name in plus]
    return "+".join([cfg.method, *(name for name in names if name)])


def check_new_run_dir(run_dir: Path) -> None:
    """RunError unless ``run_dir`` is missing or an empty directory (a new run never touches other files)."""
    if run_dir.is_symlink() and not run_dir.exists():
        raise RunError(f"{run_dir} is a symbolic link to {os.readlink(run_dir)}, which does not exist; "
                       "create that directory or pick another --out")
    if not run_dir.exists():
        return
    if not run_dir.is_dir():
        raise RunError(f"{run_dir} is a file, not a directory; pick another --out")
    if only_partial_start(run_dir):  # empty, or what a run killed while writing config.json left
        return
    if (run_dir / "last.pt").exists() and (run_dir / "config.json").exists():
        raise RunError(f"{run_dir} already holds a run; continue it with --resume {run_dir} or pick another --out")
    if started_without_checkpoint(run_dir):
        raise RunError(f"{run_dir} holds a run stopped before its first checkpoint; start it again with --resume {run_dir} "
                       "or pick another --out")
    raise RunError(f"{run_dir} is not empty and holds no resumable run; a run needs a new or empty directory: pick another --out")


def _own_leftover(path: Path) -> bool:
    """Whether ``path`` is the lock or a temporary file :func:`dann_core.files.atomic_write` of a run file left."""
    if path.name == LOCK_FILE:
        return path.is_file() and not path.is_symlink()
    return path.is_file() and not path.is_symlink() and any(
        path.name.startswith(f".{name}.") and path.name.endswith(".tmp") for name in RUN_FILES)


def only_partial_start(run_dir: Path) -> bool:
    """Whether ``run_dir`` holds nothing but dann's own leftovers of a first write that never
    completed (a SIGKILL while config.json was written leaves ``.lock`` and ``.config.json.*.tmp``):
    such a directory is as good as empty, and a new run takes it."""
    return all(_own_leftover(path) for path in run_dir.iterdir())


def create(run_dir: Path, write: Callable[[], None]) -> "RunLock":
    """Make ``run_dir`` a run directory by calling ``write()``; only a missing or empty directory
    qualifies (a user's files are never overwritten), and a failed write removes what it wrote.
    Returns the directory's :class:`RunLock`, held from before the write."""
    check_new_run_dir(run_dir)
    created = not run_dir.exists()
    run_dir.mkdir(parents=True, exist_ok=True)
    held = lock(run_dir)
    try:
        check_new_run_dir(run_dir)  # again, under the lock: another process may have started it meanwhile
        files.sweep_temporaries(run_dir, RUN_FILES)  # a killed first write's leftovers
    except BaseException:
        held.release()
        raise
    try:
        write()
    except BaseException:
        try:
            for name in RUN_FILES:
                if not (run_dir / name).is_symlink():
                    (run_dir / name).unlink(missing_ok=True)
            files.sweep_temporaries(run_dir, RUN_FILES)
            (run_dir / LOCK_FILE).unlink(missing_ok=True)  # the directory is left as it was found
            if created:
                run_dir.rmdir()
        finally:
            held.release()
        raise
    return held


def refuse_links(run_dir: Path) -> None:
    """LinkRefusedError (an OSError, one line) when a file or folder dann manages in ``run_dir`` is a
    symbolic link: checked before a run continues, so it stops before writing anything; every writer
    checks its own file again (:func:`dann_core.files.refuse_links`)."""
    for name in (*RUN_FILES, LOCK_FILE, "candidates", "views", "plots"):
        files.refuse_links(run_dir / name, run_dir)


def discard_unstarted(run_dir: Path) -> None:
    """Remove what :func:`create` wrote for a run that failed before its first evaluation (nothing
    logged): the directory is left as a new run found it (removed when empty)."""
    if (run_dir / "metrics.jsonl").exists():
        return
    for name in (*RUN_FILES, LOCK_FILE):
        if not (run_dir / name).is_symlink():
            (run_dir / name).unlink(missing_ok=True)
    files.sweep_temporaries(run_dir, RUN_FILES)
    for folder in (run_dir / "candidates", run_dir):
        try:
            folder.rmdir()
        except OSError:  # not empty (or not there): not ours to remove
            pass


def started_without_checkpoint(run_dir: Path) -> bool:
    """Whether ``run_dir`` holds a run killed between writing config.json and its first last.pt:
    a readable dann config.json and no other file of a run (temporaries and the lock aside)."""
    names = {p.name for p in run_dir.iterdir() if p.name != LOCK_FILE and not (p.name.startswith(".") and p.name.endswith(".tmp"))}
    if names != {"config.json"}:
        return False
    try:
        config_io.load(run_dir / "config.json")
    except Exception:  # not a dann config: a user's file, never taken over
        return False
    return True


def read_summary(run_dir: Path) -> dict[str, Any] | None:
    """The run's summary.json, or None when it is missing, unreadable or not what a finished run
    writes (:func:`dann_core.run_summary.problem`): such a run is not finished, and ``--resume`` writes it again."""
    return summary_file.read(run_dir)


def check_metrics(run_dir: Path, steps: list[int]) -> None:
    """RunError unless ``run_dir/metrics.jsonl`` holds a record of each evaluated ``step`` the
    checkpoint lists (a deleted, truncated or replaced file would let a resumed run end without them)."""
    from ..metrics import MetricsLog

    path = Path(run_dir) / "metrics.jsonl"
    logged = {record["step"] for record in MetricsLog(path).read()}
    missing = [step for step in steps if step not in logged]
    if missing:
        what = (f"is missing, but last.pt holds {len(steps)} evaluations" if not path.exists() else
                f"lacks {len(missing)} of the {len(steps)} evaluations last.pt holds (the first at step {missing[0]})")
        raise RunError(f"{path} {what}; restore it from a copy, or delete the run directory and train again")


def read_run_config(run_dir: Path, registry):
    """(the run's config, the registry to use), having checked the run's components are installed."""
    path = run_dir / "config.json"
    if not path.exists():
        if run_dir.is_dir() and any(True for _ in run_dir.iterdir()) and only_partial_start(run_dir):
            raise RunError(f"{run_dir} holds only what a run killed while writing its config.json left (nothing to resume); "
                           f"start it again with the command that created it (--out {run_dir} takes it)")
        raise RunError(f"{run_dir} is not a run directory (no config.json)")
    cfg = config_io.load(path)
    registry = registry if registry is not None else get_registry()
    check_installed(cfg, _provenance(path), registry)
    return cfg, registry


def _provenance(path: Path) -> dict[str, Any]:
    """config.json's provenance, checked to be what :func:`.assembly.provenance` writes (tables)."""
    recorded = config_io.load_provenance(path)
    components = recorded.get("components", {}) if isinstance(recorded, dict) else None
    if not isinstance(components, dict) or not all(isinstance(entry, dict) for entry in components.values()):
        raise RunError(f"{path}: its provenance is not the table dann writes (components by kind); "
                       "restore config.json from a copy, or delete its provenance entry")
    return recorded


def check_format(state: dict[str, Any], path: Path) -> None:
    if "format" not in state:
        raise RunError(f"{path} is not a dann run checkpoint (no format entry); restore the run's own {path.name} or retrain")
    if state.get("format") not in READABLE_FORMATS:
        readable = " and ".join(str(f) for f in READABLE_FORMATS)
        raise RunError(f"{path} has checkpoint format {state.get('format')}, this dann reads formats {readable}; retrain the run")


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
