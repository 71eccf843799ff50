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

import csv
import dataclasses
import math
import statistics
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from dann_core.config import RunConfig, split_component


def parse_seeds(text: str) -> list[int]:
    """``'0,1,2'`` → [0, 1, 2]; ``'0-4'`` → [0, 1, 2, 3, 4]; one-line ValueError otherwise."""
    seeds: list[int] = []
    for part in str(text).split(","):
        part = part.strip()
        try:
            if "-" in part:
                lo, hi = part.split("-", 1)
                span = range(int(lo), int(hi) + 1)
                if not span:
                    raise ValueError
                seeds.extend(span)
            else:
                seeds.append(int(part))
        except ValueError:
            raise ValueError(f"bad seed list {text!r}: write seeds ≥ 0 separated by commas, e.g. 0,1,2 or 0-4") from None
    if not seeds:
        raise ValueError(f"bad seed list {text!r}: no seeds")
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"bad seed list {text!r}: a seed is repeated")
    return seeds


def parse_methods(text: str | Iterable[str], registry=None) -> list[str]:
    """``'source-only,dann,cdan[entropy=true,random_dim=512]'`` → one entry per method (commas inside
    brackets stay); names are checked against ``registry``'s methods when given."""
    if isinstance(text, str):
        entries, depth, current = [], 0, ""
        for char in text:
            depth += {"[": 1, "]": -1}.get(char, 0)
            if char == "," and depth == 0:
                entries.append(current)
                current = ""
            else:
                current += char
        entries.append(current)
    else:
        entries = list(text)
    names = [entry.strip() for entry in entries if entry.strip()]
    if not names:
        raise ValueError("no methods given")
    for entry in names:
        name, options = split_method(entry)
        if registry is not None:
            spec = registry.get("method", name)
            from dann_core.plugins import validate_options

            validate_options(spec, options, kind="method")
    return names


split_method = split_component  # the grammar lives in dann_core.config (launchers use it too)


def method_config(base: RunConfig, entry: str, registry=None) -> RunConfig:
    """``base`` with the method of ``entry``: its bracketed options over those of the base config's
    method options that this method takes (``--lambda`` reaches dann and cdan, not source-only)."""
    from dann_core.plugins import get_registry

    name, options = split_method(entry)
    accepted = (registry if registry is not None else get_registry()).get("method", name).options
    inherited = {k: v for k, v in base.method_options.items() if str(k).replace("-", "_") in accepted}
    return dataclasses.replace(base, method=name, method_options={**inherited, **options})


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


def aggregate(summaries: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows of mean ± std target test accuracy per (dataset, backbone, method), in first-seen order."""
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for summary in summaries:
        groups.setdefault((summary["dataset"], summary["backbone"], summary.get("label") or summary["method"]), []).append(summary)
    rows = []
    for (dataset, backbone, method), runs in groups.items():
        accs = [r["target_test_acc"] for r in runs if r.get("target_test_acc") is not None]
        rows.append(
            {
                "dataset": dataset,
                "backbone": backbone,
                "method": method,
                "n_seeds": len(accs),
                "seeds": " ".join(str(r["seed"]) for r in runs),
                "target_acc_mean": round(statistics.fmean(accs), 6) if accs else None,
                "target_acc_std": round(statistics.stdev(accs), 6) if len(accs) > 1 else (0.0 if accs else None),
                "target_accs": " ".join(f"{a:.4f}" for a in accs),
                "source_val_acc_mean": _mean(r.get("best_source_val_acc") for r in runs),
                "selector": " ".join(sorted({str(r.get("selector") or "source-val") for r in runs})),
                "collapsed": sum(r.get("state") == "collapsed" for r in runs),
                "steps": runs[0].get("steps"),
            }
        )
    return rows


def _mean(values) -> float | None:
    values = [v for v in values if v is not None]
    return round(statistics.fmean(values), 6) if values else None


def _fmt(value: float | None) -> str:
    return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.4f}"


def format_markdown(rows: list[dict[str, Any]]) -> str:
    """Methods as rows, ``dataset (backbone)`` as columns; cells ``mean ± std`` of target accuracy."""
    columns: list[tuple[str, str]] = []
    methods: list[str] = []
    cells: dict[tuple[str, tuple[str, str]], str] = {}
    for row in rows:
        column = (row["dataset"], row["backbone"])
        if column not in columns:
            columns.append(column)
        if row["method"] not in methods:
            methods.append(row["method"])
        cell = "n/a" if row["target_acc_mean"] is None else f"{row['target_acc_mean']:.4f} ± {row['target_acc_std']:.4f}"
        collapsed = f", {row['collapsed']} collapsed" if row.get("collapsed") else ""
        cells[(row["method"], column)] = f"{cell} (n={row['n_seeds']}{collapsed})"
    header = "| Method | " + " | ".join(f"{d} ({b})" for d, b in columns) + " |"
    lines = [header, "|---|" + "|".join("---" for _ in columns) + "|"]
    for method in methods:
        lines.append(f"| {method} | " + " | ".join(cells.get((method, c), "") for c in columns) + " |")
    lines.append("")
    selectors = ", ".join(sorted({row.get("selector") or "source-val" for row in rows}))
    lines.append(
        f"Target test accuracy, mean ± sample std over seeds, of each run's best.pt, chosen by the selector {selectors} "
        "(target labels are never used to select). A method trained on labelled target data (target-oracle) keeps "
        "its checkpoint by the same rule."
    )
    return "\n".join(lines) + "\n"


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


CSV_COLUMNS = ("dataset", "backbone", "method", "selector", "n_seeds", "seeds", "steps", "target_acc_mean", "target_acc_std", "target_accs",
               "source_val_acc_mean", "collapsed")


def write_table(rows: list[dict[str, Any]], out_prefix: str | Path) -> list[Path]:
    """Write ``<out_prefix>.md`` and ``<out_prefix>.csv``; returns their paths."""
    out_prefix = Path(out_prefix)
    out_prefix.parent.mkdir(parents=True, exist_ok=True)
    md_path, csv_path = out_prefix.with_suffix(".md"), out_prefix.with_suffix(".csv")
    md_path.write_text(format_markdown(rows))
    with csv_path.open("w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=CSV_COLUMNS, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: ("" if row.get(k) is None else row[k]) for k in CSV_COLUMNS})
    return [md_path, csv_path]
