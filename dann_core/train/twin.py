"""The source-only twin of a run (``dann run --source-only-twin``): did adaptation help, without target labels?

The twin is the same config with ``method = source-only`` (the method's own options dropped; data,
backbone, steps, seed and selector unchanged), trained into ``RUN_DIR/source-only``. Each run's
best.pt is then scored by the label-free estimate of target accuracy (the ``atc`` selector,
:mod:`dann_core.selection.estimate`; from the stored views of their chosen steps): the adapted run is
kept when its estimate is higher, and the summary says "adaptation estimated +X over source-only";
otherwise "estimated to hurt: source-only kept" (RUN_DIR/source-only/best.pt is then the result to
use). ``summary.json`` of the run gets the comparison under ``source_only_twin``.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

TWIN_DIR = "source-only"
TWIN_METHOD = "source-only"


def train_twin(cfg, run_dir: Path, registry=None, quiet: bool = True) -> dict[str, Any]:
    """Train (or resume, or read back when finished) the twin in ``run_dir/source-only``; its summary."""
    from .api import resume, train
    from .rundir import read_summary

    twin_dir = Path(run_dir) / TWIN_DIR
    if (twin_dir / "summary.json").exists():
        return read_summary(twin_dir)
    if (twin_dir / "config.json").exists():
        return resume(twin_dir, quiet=quiet, registry=registry)
    twin = dataclasses.replace(cfg, method=TWIN_METHOD, method_options={}, out=None)
    return train(twin, twin_dir, quiet=quiet, registry=registry)


def compare(run_dir: Path, summary: dict[str, Any], twin: dict[str, Any]) -> dict[str, Any]:
    """The adapted run against its twin by their best.pt's estimated target accuracy."""
    adapted, baseline = summary.get("target_acc_estimate"), twin.get("target_acc_estimate")
    if adapted is None or baseline is None:
        return {"kept": "adapted", "line": "no estimate of target accuracy to compare with source-only (no labelled source val)",
                "estimated_gain": None, "twin_dir": str(Path(run_dir) / TWIN_DIR)}
    gain = round(adapted - baseline, 4)
    kept = "adapted" if gain > 0 else "source-only"
    line = (f"adaptation estimated {gain:+.3f} over source-only" if kept == "adapted"
            else f"estimated to hurt: source-only kept ({Path(run_dir) / TWIN_DIR / 'best.pt'}; estimated {gain:+.3f})")
    return {"kept": kept, "line": line, "estimated_gain": gain, "target_acc_estimate": baseline,
            "target_test_acc_reported_only": twin.get("target_test_acc"), "twin_dir": str(Path(run_dir) / TWIN_DIR)}


def attach(cfg, run_dir: Path, summary: dict[str, Any], registry=None, quiet: bool = True) -> dict[str, Any]:
    """Train the twin, compare, and write the comparison into the run's summary.json; the new summary."""
    from .. import files

    comparison = compare(run_dir, summary, train_twin(cfg, run_dir, registry, quiet))
    summary = {**summary, "source_only_twin": comparison}
    files.write_json(summary, Path(run_dir) / "summary.json")
    return summary
