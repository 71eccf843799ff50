"""Hyper-parameter sweeps that select without target labels, as resumable jobs.

A grid maps config keys (as in ``--set``: ``lambda``, ``lr``, ``discriminator.width``, ...) to lists
of values (parsed and checked in :mod:`dann_evaluation.grid`); :func:`run_sweep` makes every combination a job (:mod:`dann_evaluation.jobs`: an ordinary
run directory under ``OUT/jobs/<id>``), runs those not finished on a launcher plugin
(``local``, ``submitit``, ``ray``) and selects the configuration whose run scores best by a selector
whose scores compare across runs (default ``source-val``, the best worst case on the selection
benchmark; also ``reverse-val``, the paper's reverse validation, ``iw``, ``atc``, ``ensv``, ``dev``,
``entropy``, ``snd`` or a plugin's; ``last`` is refused). Each run's score is
its selector's score of the checkpoint it kept as best.pt (``summary.json``: ``selector_score``).

Remaining ties go to the configuration listed first. Target test accuracy is read for every configuration
and written in its own column marked "reported only": it is never used to select.

Files written to the sweep directory: ``sweep.csv`` and ``sweep.md`` (one row per configuration),
``sweep.json`` (base config, grid, rows, the selected configuration and the selection rule).
:func:`collect` rebuilds them from the job directories alone.
"""
from __future__ import annotations

import csv
import dataclasses
import math
from pathlib import Path
from typing import Any

from dann_core.config import RunConfig, split_key

from .grid import DEFAULT_SELECT, SweepError, validate_grid
from .grid import Range as Range, parse_grid as parse_grid  # re-exported: the grid grammar lived here (now .grid)

ALIASES = {"reverse-validation": "reverse-val"}
"""Earlier name of the sweep's reverse validation: it is the ``reverse-val`` selector."""
TARGET_COLUMN = "target_test_acc_reported_only"


def selection_note(select: str, selector=None) -> str:
    order = "highest" if selector is None or selector.higher_is_better else "lowest"
    if getattr(selector, "set_level", False):
        return (f"selected = {order} score of the set-level selector {select}, each configuration's own selected checkpoint scored "
                "against the others' as one set (ties: first listed); target test accuracy is reported only, never used to select")
    return (f"selected = {order} score of selector {select} on each configuration's own selected checkpoint (ties: first listed); "
            "target test accuracy is reported only, never used to select")


def _label(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def job_config(cfg: RunConfig, select: str, base: RunConfig) -> RunConfig:
    """``cfg`` as a sweep job: selected by ``select`` (with the base config's options when it names the same selector)."""
    options = dict(base.select_options) if base.select == select else {}
    return dataclasses.replace(cfg, select=select, select_options=options, out=None)


def run_sweep(
    base: RunConfig,
    grid: dict[str, list[Any]],
    out: str | Path,
    select: str = DEFAULT_SELECT,
    registry=None,
    launcher: str = "local",
    workers: int = 1,
    retry_failed: bool = False,
    stream=None,
) -> dict[str, Any]:
    """Make every configuration of ``grid`` over ``base`` a job under ``out``, run the unfinished ones,
    collect and select; returns the result of :func:`collect` plus ``launch`` (a LaunchResult).

    ``launcher`` is ``NAME`` or ``NAME[OPTION=VALUE,...]`` of a launcher plugin; ``stream`` gets the
    progress (default stderr). Ctrl-C ends the launch with ``result["launch"].interrupted`` set and
    every finished job kept (the files are written from what finished).
    """
    from .jobs import job_id, write_job
    from .launch import Progress, build_launcher, launch_jobs

    registry = _registry(registry)
    select = ALIASES.get(select, select)
    selector = sweep_selector(select, registry)
    configs = validate_grid(grid, base, registry, select)
    runner = build_launcher(registry, launcher, workers)
    keys = list(grid)
    jobs = [job_config(cfg, select, base) for cfg in configs]
    ids = [job_id(cfg) for cfg in jobs]
    if len(set(ids)) < len(ids):
        raise SweepError(f"sweep grid: two configurations are the same run (job {next(i for i in ids if ids.count(i) > 1)}); drop the repeated value")
    job_dirs = [write_job(out, cfg, {k: _label(v) for k, v in zip(keys, _values_of(cfg, keys))}, index, "sweep") for index, cfg in enumerate(jobs)]
    progress = Progress(len(job_dirs), f"sweep {Path(out).name}", describe_job, workers, stream)
    launched = launch_jobs(job_dirs, runner, retry_failed, progress)
    result = collect(out, selector=selector, grid=grid, base=base)
    result["launch"] = launched
    return result


def _registry(registry):
    if registry is None:
        from dann_core.plugins import get_registry

        registry = get_registry()
    return registry


def describe_job(job_dir, state) -> str:
    """``id k=v ...: done, score 0.1, target acc 0.9 (3.1 s)``: the line of a finished job."""
    row = job_row(job_dir, state)
    label = " ".join(f"{k}={v}" for k, v in row["label"].items())
    if state.state == "done":
        return f"{row['id']} {label}: done, score {_show(row['score'])}, target acc {_show(row[TARGET_COLUMN])} (reported only), {row['seconds']} s"
    if state.state == "collapsed":  # never selected: its score is that of a step before the collapse
        return f"{row['id']} {label}: {state.error}"
    return f"{row['id']} {label}: {state.state}" + (f": {state.error}" if state.error else "")


def _show(value) -> str:
    return "n/a" if value is None else f"{value:.4g}"


def job_row(job_dir, state=None) -> dict[str, Any]:
    """One row of a sweep from a job's directory: its label, state and (when done) its summary's scores.
    JobFileError (one line naming it) when job.json or summary.json is damaged."""
    from .jobs import job_state, read_job, read_summary

    job_dir = Path(job_dir)
    record, state = read_job(job_dir), state or job_state(job_dir)
    row: dict[str, Any] = {"id": record["id"], "index": record.get("index"), "label": dict(record.get("label", {})),
                           "select": record["config"].get("select"), "status": "ok" if state.state == "done" else state.state,
                           "score": None, "source_val_acc": None, TARGET_COLUMN: None, "seconds": None, "error": state.error}
    if state.state in ("done", "collapsed"):  # a collapsed row shows its scores but is never selected (status)
        summary = read_summary(job_dir)
        row.update(score=_round(summary.get("selector_score")), source_val_acc=_round(summary.get("best_source_val_acc")),
                   seconds=summary.get("seconds"), **{TARGET_COLUMN: _round(summary.get("target_test_acc"))})
    return row


def collect(out: str | Path, selector=None, grid: dict[str, list[Any]] | None = None, base: RunConfig | None = None, registry=None) -> dict[str, Any]:
    """The sweep's result from the job directories under ``out`` alone; writes sweep.csv/.md/.json there.

    ``selector`` defaults to the one the jobs were run with (their config's ``select``). Rows hold
    ``id``, the grid values, ``status`` (ok, collapsed, diverged, failed, interrupted, pending, running),
    ``score``, ``source_val_acc``, ``selected`` and the reported-only target accuracy.
    """
    from .jobs import JobFileError, list_jobs

    rows, skipped = [], []
    for job_dir in list_jobs(out):
        try:
            row = job_row(job_dir)
        except JobFileError as exc:  # a damaged job file: left out and named (the next launch repairs it)
            skipped.append(str(exc))
            continue
        rows.append({"id": row.pop("id"), **{k: v for k, v in row.pop("label").items()}, **row})
    if not rows:
        raise SweepError(skipped[0] if skipped else f"{out} holds no sweep jobs (no jobs/*/job.json)")
    selects = sorted({row["select"] for row in rows})
    if len(selects) > 1:
        raise SweepError(f"{out} holds jobs selected by different selectors ({', '.join(selects)}); collect one sweep per directory")
    select = selects[0]
    if selector is None:
        selector = sweep_selector(select, _registry(registry))
    if grid is None:
        keys = [k for k in rows[0] if k not in ROW_FIELDS]
        grid = {k: sorted({str(r.get(k)) for r in rows}) for k in keys}
    if selector.set_level:  # each run's chosen checkpoint scored against the others' as one set (across.py)
        from .across import set_scores

        set_scores(rows, select, selector, _registry(registry), out)
    best = select_best(rows, selector)
    for row in rows:
        row["selected"] = best is not None and row["id"] == best["id"]
    result = {
        "select": select,
        "selection": selection_note(select, selector),
        "grid": {k: [_label(v) for v in vs] for k, vs in grid.items()},
        "base": base.to_dict() if base is not None else None,
        "rows": rows,
        "selected": best,
        "skipped": skipped,
    }
    from .across import sweep_adaptation

    adaptation = sweep_adaptation(rows, best, out)  # a grid over methods has a source-only row to compare with
    if adaptation is not None:
        result["adaptation"] = adaptation
    write_sweep(result, out)
    return result


ROW_FIELDS = ("id", "index", "select", "status", "score", "source_val_acc", TARGET_COLUMN, "seconds", "error", "selected")


def _values_of(cfg: RunConfig, keys: list[str]) -> list[Any]:
    values = cfg.to_dict()
    out = []
    for key in keys:
        name, option = split_key(key, "grid")
        out.append(values[name][option] if option is not None else values[name])
    return out


def _round(value: float | None) -> float | None:
    return None if value is None else round(float(value), 6)


def sweep_selector(select: str, registry):
    """The selector plugin ``select``; SweepError unless its scores compare across runs."""
    select = ALIASES.get(select, select)
    choices = ", ".join(n for n in registry.selectors if getattr(registry.selectors[n].factory, "across_runs", True))
    if select not in registry.selectors:
        raise SweepError(f"unknown selector '{select}' for a sweep; choose from {choices}")
    selector = registry.build("selector", select, {})
    if not selector.across_runs:
        raise SweepError(f"selector {select} ranks the checkpoints of one run and cannot compare configurations; choose from {choices}")
    return selector


def select_best(rows: list[dict[str, Any]], selector=None) -> dict[str, Any] | None:
    """The finished row with the best score in the selector's direction (ties: the first listed);
    None when no row has a score (every configuration diverged or failed)."""

    def key(row: dict[str, Any]) -> float:
        score = row.get("score")
        if row.get("status") != "ok" or score is None or math.isnan(score):
            return math.inf
        return -score if selector is None or selector.higher_is_better else score

    if not rows:
        return None
    best = min(rows, key=key)  # min keeps the first of equal keys
    return None if key(best) == math.inf else best


COLUMN_TITLES = {
    "id": "id",
    "score": "score",
    "source_val_acc": "source val acc",
    "status": "status",
    "selected": "selected",
    TARGET_COLUMN: "target test acc (reported only)",
    "seconds": "seconds",
}


def columns(result: dict[str, Any]) -> list[str]:
    keys = list(result["grid"])
    return ["id", *keys, "score", "source_val_acc", "status", "selected", TARGET_COLUMN, "seconds", "error"]


def write_sweep(result: dict[str, Any], out: str | Path) -> list[Path]:
    """Write sweep.csv, sweep.md and sweep.json into ``out``; returns their paths."""
    from dann_core.files import write_json

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    cols = columns(result)
    csv_path, md_path, json_path = out / "sweep.csv", out / "sweep.md", out / "sweep.json"
    with csv_path.open("w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=cols, extrasaction="ignore")
        writer.writeheader()
        for row in result["rows"]:
            writer.writerow({k: ("" if row.get(k) is None else row.get(k)) for k in cols})
    md_path.write_text(format_markdown(result))
    write_json({k: v for k, v in result.items() if k != "launch"}, json_path)
    return [csv_path, md_path, json_path]


def format_markdown(result: dict[str, Any]) -> str:
    cols = columns(result)

    def cell(row: dict[str, Any], key: str) -> str:
        value = row.get(key)
        if key == "selected":
            return "**yes**" if value else ""
        if value is None:
            return "n/a"
        return f"{value:.4f}" if isinstance(value, float) and key != "seconds" else str(value)

    lines = [
        f"Sweep of {len(result['rows'])} configurations; {result['selection']}.",
        "",
        "| " + " | ".join(COLUMN_TITLES.get(c, c) for c in cols) + " |",
        "|" + "|".join("---" for _ in cols) + "|",
    ]
    lines += ["| " + " | ".join(cell(row, c) for c in cols) + " |" for row in result["rows"]]
    return "\n".join(lines) + "\n"
