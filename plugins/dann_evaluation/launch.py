"""Launching jobs on a launcher plugin, and the one progress line of a sweep or table.

:func:`launch_jobs` reads each job's state from its directory: done, collapsed and diverged jobs are kept,
running ones (another process holds their lock) are left to it, failed ones are retried only with
``retry_failed``; the rest (pending, interrupted) go to the launcher, which runs
``python -m dann_evaluation.jobs JOB_DIR`` (or :func:`dann_evaluation.jobs.run_job`) for each. Ctrl-C
stops the launch, never a finished job: :class:`LaunchResult` says what was kept.
"""
from __future__ import annotations

import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from .jobs import FINISHED, JobState, clear_failure, job_state


@dataclass(frozen=True)
class Task:
    """One job handed to a launcher: ``argv(threads)`` for a fresh process, ``run(threads)`` as a call."""

    id: str
    job_dir: str

    @property
    def log(self) -> str:
        return str(Path(self.job_dir) / "log")

    def argv(self, threads: int = 0) -> list[str]:
        return [sys.executable, "-m", "dann_evaluation.jobs", self.job_dir, "--threads", str(int(threads))]

    def run(self, threads: int = 0) -> str:
        from .jobs import run_job

        return run_job(self.job_dir, threads)


def build_launcher(registry, text: str, workers: int):
    """The launcher ``NAME`` or ``NAME[OPTION=VALUE,...]`` from ``registry``, for ``workers`` workers."""
    from dann_core.config import split_component

    if workers < 1:
        raise ValueError(f"--workers must be ≥ 1, got {workers}")
    name, options = split_component(text)
    if not registry.of_kind("launcher"):
        raise ValueError("no launcher plugin is installed (entry point launchers = dann_launchers); reinstall dann: pip install -e .")
    return registry.build("launcher", name, options, workers=workers)


@dataclass
class LaunchResult:
    """Every job's state after the launch, which ran (ids), and whether Ctrl-C stopped it."""

    states: dict[str, JobState]
    ran: list[str] = field(default_factory=list)
    interrupted: bool = False

    def count(self, *states: str) -> int:
        return sum(s.state in states for s in self.states.values())

    def summary(self) -> str:
        """``6 done, 1 collapsed, 1 diverged, 1 failed, 2 interrupted`` (states with none left out)."""
        parts = [f"{self.count(state)} {state}" for state in ("done", "collapsed", "diverged", "failed", "interrupted", "pending", "running")
                 if self.count(state)]
        return ", ".join(parts) or "no jobs"


class Progress:
    """One live line on a terminal (``\\r``-rewritten), else one line per finished job, on ``stream``.

    ``describe(job_dir, state)`` gives the words of a finished job's line (its label and result).
    The ETA is the mean time of the jobs finished in this launch, times the jobs left, over the workers.
    """

    def __init__(self, total: int, title: str, describe: Callable[[str, JobState], str], workers: int = 1, stream=None) -> None:
        self.total, self.title, self.describe, self.workers = total, title, describe, max(1, workers)
        self.stream = stream if stream is not None else sys.stderr
        self.live = bool(getattr(self.stream, "isatty", lambda: False)())
        self.done = self.failed = self.running = 0
        self.started: dict[str, float] = {}
        self.durations: list[float] = []
        self.lock = threading.Lock()
        self.shown = False

    def kept(self, job_dir: str, state: JobState) -> None:
        """A job that is not launched (finished before, failed and not retried, running elsewhere)."""
        with self.lock:
            if state.state in FINISHED:
                self.done += 1
            elif state.state == "failed":
                self.failed += 1
            note = {"failed": "not retried: add --retry-failed", "running": f"running in process {state.pid}"}.get(state.state, "reused")
            self._line(job_dir, state, note=note)

    def start(self, job_dir: str) -> None:
        with self.lock:
            self.running += 1
            self.started[job_dir] = time.monotonic()
            self._refresh()

    def end(self, job_dir: str) -> None:
        state = job_state(job_dir)
        with self.lock:
            self.running = max(0, self.running - 1)
            began = self.started.pop(job_dir, None)
            if state.state in FINISHED:
                self.done += 1
                if began is not None:
                    self.durations.append(time.monotonic() - began)
            elif state.state == "failed":
                self.failed += 1
            self._line(job_dir, state)

    def close(self) -> None:
        """End the live line (a later refresh starts a new one)."""
        if self.live and self.shown:
            self.stream.write("\n")
            self.stream.flush()
            self.shown = False

    def status(self) -> str:
        eta = ""
        left = self.total - self.done - self.failed
        if self.durations and left > 0:
            seconds = sum(self.durations) / len(self.durations) * left / min(self.workers, left)
            eta = f", ETA {_clock(seconds)}"
        return f"{self.title}: {self.done}/{self.total} done, {self.running} running, {self.failed} failed{eta}"

    def _line(self, job_dir: str, state: JobState, note: str = "") -> None:
        if self.live:
            self._refresh()
            return
        finished = self.done + self.failed
        suffix = f" ({note})" if note else ""
        self.stream.write(f"[{finished}/{self.total}] {self.describe(job_dir, state)}{suffix}\n")
        self.stream.flush()

    def _refresh(self) -> None:
        if self.live:
            self.shown = True
            self.stream.write("\r\033[K" + self.status())
            self.stream.flush()


def _clock(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}" if seconds >= 3600 else f"{seconds // 60}:{seconds % 60:02d}"


def launch_jobs(
    job_dirs: Sequence[str | Path], launcher: Any, retry_failed: bool = False, progress: Progress | None = None
) -> LaunchResult:
    """Run every job of ``job_dirs`` that is not finished on ``launcher``; returns the states after.

    Done and diverged jobs are kept; running ones are left to the process holding their lock; failed
    ones are launched again only with ``retry_failed``. Ctrl-C stops the launcher (its workers end as
    on Ctrl-C: resumable) and returns with ``interrupted`` set; nothing finished is touched.
    """
    tasks = []
    for job_dir in map(str, job_dirs):
        state = job_state(job_dir)
        if state.state == "failed" and retry_failed:
            clear_failure(job_dir)
            state = job_state(job_dir)
        if state.state in (*FINISHED, "failed", "running"):
            if progress is not None:
                progress.kept(job_dir, state)
            continue
        tasks.append(Task(Path(job_dir).name, job_dir))

    def report(task: Task, event: str) -> None:
        if progress is not None:
            (progress.start if event == "started" else progress.end)(task.job_dir)

    interrupted = False
    try:
        if tasks:
            launcher.launch(tasks, report)
    except KeyboardInterrupt:
        interrupted = True
    finally:
        if progress is not None:
            progress.close()
    states = {Path(d).name: job_state(d) for d in job_dirs}
    return LaunchResult(states, [t.id for t in tasks], interrupted)
