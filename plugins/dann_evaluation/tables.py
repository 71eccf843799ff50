"""Multi-seed accuracy tables in the shape of the paper's Table 2 (JMLR 2016).

:func:`run_multi_seed` trains each method (any algorithm plugin; ``cdan[entropy=true]`` gives
options, and the base config's method options apply where a method takes them) for each seed into its own run directory and collects the target test accuracy of each run's best
checkpoint (chosen on held-out source accuracy, as every run does). :func:`aggregate` turns the
runs into rows of mean ± sample standard deviation (ddof = 1; 0 for a single seed), and
:func:`format_markdown` / :func:`write_table` render methods as rows and datasets as columns.

A run directory that already holds a finished run with the same config is reused, so an interrupted
table continues where it stopped.
"""
from __future__ import annotations

import csv
import dataclasses
import math
import statistics
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from dann_core.config import RunConfig, parse_set


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
    brackets stay); names are checked against ``registry``'s algorithms when given."""
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
            spec = registry.get("algorithm", name)
            from dann_core.plugins import validate_options

            validate_options(spec, options, kind="algorithm")
    return names


def split_method(entry: str) -> tuple[str, dict[str, Any]]:
    """``'cdan[entropy=true]'`` → ('cdan', {'entropy': True}); one-line ValueError when malformed."""
    name, bracket, rest = entry.strip().partition("[")
    if not bracket:
        return name.strip(), {}
    if not rest.endswith("]"):
        raise ValueError(f"bad method {entry!r}: write NAME or NAME[OPTION=VALUE,...]")
    options = dict(parse_set(item) for item in rest[:-1].split(",") if item.strip())
    return name.strip(), options


def method_config(base: RunConfig, entry: str, registry=None) -> RunConfig:
    """``base`` with the method of ``entry``: its bracketed options over those of the base config's
    method options that this method takes (``--lambda`` reaches dann and cdan, not source-only)."""
    from dann_core.plugins import get_registry

    name, options = split_method(entry)
    accepted = (registry if registry is not None else get_registry()).get("algorithm", name).options
    inherited = {k: v for k, v in base.method_options.items() if str(k).replace("-", "_") in accepted}
    return dataclasses.replace(base, method=name, method_options={**inherited, **options})


def run_dir_for(out: Path, cfg: RunConfig, label: str | None = None) -> Path:
    return out / cfg.dataset / f"{label or cfg.method}-s{cfg.seed}"


def run_multi_seed(
    base: RunConfig,
    seeds: Sequence[int],
    methods: Sequence[str],
    out: str | Path = "runs/table",
    progress: Callable[[str], None] | None = None,
    registry=None,
) -> list[dict[str, Any]]:
    """Train ``base`` with each method and seed into ``out/<dataset>/<method>-s<seed>``; returns summaries.

    This is the function behind ``dann table`` (and the one a ``dann run --seeds`` option calls).
    A directory holding a finished run of the same experiment (the config up to device, threads,
    kernels and out) is reused, an interrupted one is resumed; one holding a different run is an
    error (RunError from the trainer), so nothing is silently mixed.
    """
    from dann_core import config as config_io, files
    from dann_core.train import resume, train

    out = Path(out)
    summaries = []
    total = len(methods) * len(seeds)
    for index, (method, seed) in enumerate(((m, s) for m in methods for s in seeds), start=1):
        cfg = dataclasses.replace(method_config(base, method, registry), seed=int(seed), out=None)
        run_dir = run_dir_for(out, cfg, method)
        summary_path = run_dir / "summary.json"
        same = (run_dir / "config.json").exists() and _experiment(config_io.load(run_dir / "config.json")) == _experiment(cfg)
        if same and summary_path.exists():
            summary = files.read_json(summary_path)
            note = "reused"
        elif same and (run_dir / "last.pt").exists():
            summary = resume(run_dir, registry=registry)  # an interrupted run of the same experiment: continue it
            note = f"resumed, {summary['seconds']:.1f} s"
        else:
            summary = train(cfg, run_dir=run_dir, registry=registry)
            note = f"{summary['seconds']:.1f} s"
        summaries.append({**summary, "label": method})
        if progress is not None:
            progress(f"[{index}/{total}] {cfg.dataset} {method} seed {seed}: target acc {_fmt(summary['target_test_acc'])} ({note})")
    return summaries


EXECUTION_KEYS = ("device", "threads", "kernels", "out")
"""Settings that change how a run executes, not what it computes; a finished run is reused across them."""


def _experiment(cfg: RunConfig) -> dict[str, Any]:
    return {k: v for k, v in cfg.to_dict().items() if k not in EXECUTION_KEYS}


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
        cells[(row["method"], column)] = f"{cell} (n={row['n_seeds']})"
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
) -> tuple[list[dict[str, Any]], list[Path]]:
    """:func:`run_multi_seed`, :func:`aggregate` and :func:`write_table` to ``out/<dataset>-table.md/.csv``.

    Returns (rows, [markdown path, csv path]); ``format_markdown(rows)`` is the table to print. This is
    the one call behind ``dann table`` and for a ``dann run --seeds`` option.
    """
    rows = aggregate(run_multi_seed(base, seeds, methods, out=out, progress=progress, registry=registry))
    return rows, write_table(rows, Path(out) / f"{base.dataset}-table")


CSV_COLUMNS = ("dataset", "backbone", "method", "selector", "n_seeds", "seeds", "steps", "target_acc_mean", "target_acc_std", "target_accs", "source_val_acc_mean")


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
