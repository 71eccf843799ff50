"""A table's rows and files: :func:`aggregate` turns run summaries into rows of mean ± sample standard
deviation (ddof = 1; 0 for a single seed) of target test accuracy, :func:`format_markdown` renders
methods as rows and ``dataset (backbone)`` as columns, :func:`write_table` writes the markdown and csv."""
from __future__ import annotations

import csv
import math
import statistics
from pathlib import Path
from typing import Any, Iterable


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


def fmt(value: float | None) -> str:
    """An accuracy with 4 decimals, or ``n/a`` (None or NaN)."""
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
