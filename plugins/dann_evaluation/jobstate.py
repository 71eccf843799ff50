"""A job's state, read from its directory alone: pending, running (its lock is held), interrupted,
done, collapsed, diverged or failed (:mod:`dann_evaluation.jobs` says which file decides each)."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .jobfiles import DIVERGED_FILE, ERROR_FILE, RUN_DIR
from .joblock import lock_holder

STATES = ("pending", "running", "interrupted", "done", "collapsed", "diverged", "failed")
FINISHED = ("done", "collapsed", "diverged")


@dataclass
class JobState:
    """``state`` (one of :data:`STATES`), its one-line ``error`` (diverged/failed), the pid of a running job,
    and the last step logged in metrics.jsonl (None before the first evaluation)."""

    id: str
    state: str
    error: str | None = None
    pid: str | None = None
    step: int | None = None


def job_state(job_dir: str | Path, holding_lock: bool = False) -> JobState:
    """The state of the job in ``job_dir``, read from its files alone (``holding_lock``: the caller holds it)."""
    from dann_core import run_summary

    job_dir = Path(job_dir)
    run = job_dir / RUN_DIR
    step = _last_step(run / "metrics.jsonl")
    pid = None if holding_lock else lock_holder(job_dir)
    if pid is not None:
        return JobState(job_dir.name, "running", pid=pid, step=step)
    damage = run_summary.damage(run)  # not done: the next launch finishes it again
    if (run / "summary.json").is_file() and damage is None:
        summary = _summary(run / "summary.json")
        if summary.get("state") == "collapsed":  # dann_core/train/health.py
            return JobState(job_dir.name, "collapsed", error=first_line(str(summary.get("warning") or "collapsed")), step=step)
        return JobState(job_dir.name, "done", step=step)
    for name, state in ((DIVERGED_FILE, "diverged"), (ERROR_FILE, "failed")):
        if (job_dir / name).is_file():
            return JobState(job_dir.name, state, error=first_line((job_dir / name).read_text(errors="replace")), step=step)
    if run.exists():
        return JobState(job_dir.name, "interrupted", error=damage and f"{damage}: the next launch finishes the run again", step=step)
    return JobState(job_dir.name, "pending")


def _last_step(path: Path) -> int | None:
    try:
        lines = path.read_bytes().splitlines()
    except OSError:
        return None
    for line in reversed(lines):
        try:
            return int(json.loads(line)["step"])
        except (ValueError, KeyError, TypeError):
            continue
    return None


def _summary(path: Path) -> dict[str, Any]:
    try:
        summary = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return summary if isinstance(summary, dict) else {}


def first_line(text: str) -> str:
    """The first line of ``text``, at most 300 characters (a job's one-line error)."""
    return (text.strip().splitlines() or [""])[0][:300]


def clear_failure(job_dir: str | Path) -> None:
    """Forget a failed job's error, so that the next launch retries it (``--retry-failed``)."""
    (Path(job_dir) / ERROR_FILE).unlink(missing_ok=True)
