"""Multi-seed accuracy tables in the shape of the paper's Table 2 (JMLR 2016).

:func:`run_multi_seed` trains each method (any method plugin; ``cdan[entropy=true]`` gives
options, and the base config's method options apply where a method takes them) for each seed
into its own run directory and collects the target test accuracy of each run's best checkpoint
(chosen by the run's selector, ``last`` unless ``--select`` says otherwise, never with target
labels). :func:`aggregate` turns the runs into rows of mean ± sample standard deviation (ddof = 1;
0 for a single seed), and :func:`format_markdown` / :func:`write_table` render methods as rows and
datasets as columns.

Every run is a job (:mod:`dann_evaluation.jobs`) under ``OUT/jobs/<id>``: the same command reuses
finished runs, resumes interrupted ones exactly and runs them on a launcher plugin (``--workers N``).
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Callable, Sequence

from dann_core.config import RunConfig

# the parsing of --seeds/--methods lives in .table_args, the rows and files in .table_format; their names stay importable from here
from .table_args import method_config, parse_methods, parse_seeds, split_method
from .table_format import CSV_COLUMNS, aggregate, format_markdown, write_table
from .table_format import fmt as _fmt

__all__ = ["CSV_COLUMNS", "JobsIncomplete", "aggregate", "describe_table_job", "format_markdown", "incomplete_message", "method_config",
           "parse_methods", "parse_seeds", "run_multi_seed", "run_table", "run_table_jobs", "split_method", "table_jobs", "write_table"]


class JobsIncomplete(ValueError):
    """Some jobs of a table or sweep did not finish (Ctrl-C, failures); the finished ones are kept and
    already written. The message is one line saying what was kept and how to continue."""

    def __init__(self, message: str, interrupted: bool, result: Any = None) -> None:
        super().__init__(message)
        self.interrupted, self.result = interrupted, result


def incomplete_message(launched, out: str | Path, what: str = "runs") -> str | None:
    """None when every job finished; else one line: what was kept and how to continue."""
    total = len(launched.states)
    finished = launched.count("done", "collapsed", "diverged")
    if finished == total and not launched.interrupted:
        return None
    kept = f"{finished} of {total} {what} finished and kept under {out}"
    failed = launched.count("failed")
    if launched.interrupted:
        return f"interrupted: {kept}; continue with the same command (it skips them and resumes the rest)"
    if failed:
        return (f"{failed} of {total} {what} failed ({kept}); see: dann sweep status {out}; "
                "retry them with the same command and --retry-failed")
    return f"{kept}; the others are {launched.summary()}: run the same command again to continue them"


class _Lines:
    """A write()-able stream that hands each complete line to a callable (``progress=`` of the API)."""

    def __init__(self, emit: Callable[[str], None]) -> None:
        self.emit, self.buffer = emit, ""

    def write(self, text: str) -> None:
        self.buffer += text
        while "\n" in self.buffer:
            line, self.buffer = self.buffer.split("\n", 1)
            if line.strip():
                self.emit(line)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False


def table_jobs(base: RunConfig, seeds: Sequence[int], methods: Sequence[str], out: str | Path, registry=None) -> list[Path]:
    """The job directories of a table (one per method and seed, in that order) under ``out``."""
    from .jobs import write_job

    dirs = []
    for index, (method, seed) in enumerate((m, s) for m in methods for s in seeds):
        cfg = dataclasses.replace(method_config(base, method, registry), seed=int(seed), out=None)
        dirs.append(write_job(out, cfg, {"method": method, "seed": int(seed)}, index, "table"))
    return dirs


def describe_table_job(job_dir, state) -> str:
    """``moons dann seed 1: target acc 0.9120 (4.2 s)``: the line of a finished table job."""
    from .jobs import read_job, read_summary

    record = read_job(job_dir)
    name = f"{record['config']['dataset']} {record['label']['method']} seed {record['label']['seed']}"
    if state.state not in ("done", "collapsed"):
        return f"{name}: {state.state}" + (f": {state.error}" if state.error else "")
    summary = read_summary(job_dir)
    collapsed = f"; {state.error}" if state.state == "collapsed" else ""  # its best.pt is a healthy step before
    return f"{name}: target acc {_fmt(summary.get('target_test_acc'))} ({summary.get('seconds', 0):.1f} s){collapsed}"


def run_multi_seed(base: RunConfig, seeds: Sequence[int], methods: Sequence[str], out: str | Path = "runs/table", **options: Any) -> list[dict[str, Any]]:
    """The summaries of :func:`run_table_jobs` (finished runs only, in method-then-seed order)."""
    return run_table_jobs(base, seeds, methods, out, **options)[0]


def run_table_jobs(
    base: RunConfig,
    seeds: Sequence[int],
    methods: Sequence[str],
    out: str | Path = "runs/table",
    progress: Callable[[str], None] | None = None,
    registry=None,
    launcher: str = "local",
    workers: int = 1,
    retry_failed: bool = False,
    stream=None,
) -> tuple[list[dict[str, Any]], Any]:
    """Train ``base`` with each method and seed as a job under ``out/jobs/<id>``; returns the summaries and the LaunchResult.

    This is the function behind ``dann table`` (and ``dann run --seeds``). Finished jobs are reused,
    interrupted ones resumed exactly, failed ones retried only with ``retry_failed``; the jobs run on
    the launcher plugin ``launcher`` with ``workers`` workers. ``progress`` gets one line per job
    (else ``stream``, default stderr, gets the live line). When a job did not finish, the table of
    the finished ones is still returned by :func:`run_table`, which then raises :class:`JobsIncomplete`.
    """
    from .jobs import read_job, read_summary
    from .launch import Progress, build_launcher, launch_jobs

    if registry is None:
        from dann_core.plugins import get_registry

        registry = get_registry()
    runner = build_launcher(registry, launcher, workers)
    job_dirs = table_jobs(base, seeds, methods, out, registry)
    lines = _Lines(progress) if progress is not None else stream
    meter = Progress(len(job_dirs), f"table {Path(out).name}", describe_table_job, workers, lines)
    launched = launch_jobs(job_dirs, runner, retry_failed, meter)
    summaries = []
    for job_dir in job_dirs:
        if launched.states[job_dir.name].state in ("done", "collapsed"):  # a collapsed run's best.pt is from before it
            label = read_job(job_dir)["label"]["method"]
            summaries.append({**read_summary(job_dir), "label": label})
    return summaries, launched


def run_table(
    base: RunConfig,
    seeds: Sequence[int],
    methods: Sequence[str],
    out: str | Path = "runs/table",
    progress: Callable[[str], None] | None = None,
    registry=None,
    **launch: Any,
) -> tuple[list[dict[str, Any]], list[Path]]:
    """:func:`run_multi_seed`, :func:`aggregate` and :func:`write_table` to ``out/<dataset>-table.md/.csv``.

    Returns (rows, [markdown path, csv path]); ``format_markdown(rows)`` is the table to print. This is
    the one call behind ``dann table`` and for a ``dann run --seeds`` option. ``launch``: ``launcher``,
    ``workers``, ``retry_failed``, ``stream`` of :func:`run_table_jobs`. When a job did not finish, the
    table of the finished ones is written and :class:`JobsIncomplete` (one line; ``.result`` = the
    return value) is raised.
    """
    summaries, launched = run_table_jobs(base, seeds, methods, out=out, progress=progress, registry=registry, **launch)
    rows = aggregate(summaries)
    paths = write_table(rows, Path(out) / f"{base.dataset}-table")
    message = incomplete_message(launched, out)
    if message is not None:
        raise JobsIncomplete(message, launched.interrupted, (rows, paths))
    return rows, paths
