"""How far the label-free estimates of target accuracy are from the truth, on finished runs.

    python -m benchmarks.target_estimate RUN_DIR_GLOB [RUN_DIR_GLOB ...] [--group-by REGEX]

For every evaluated step of every run (from its stored views: ``views/step-N.pt``), every estimator
of ``dann_core.selection.estimate.ESTIMATORS`` estimates the target accuracy without target labels;
the run's metrics.jsonl holds the true target test accuracy of the same step (reported only). Prints,
per group of runs (by default the run directory's name without its ``-s<seed>``/method part, given by
``--group-by``: a regular expression whose first group names the group) and overall: the mean and the
95th percentile of |estimate − actual| of every estimator, over every step and over the steps each run
reports (best.pt's). Collapsed evaluations are left out (no selector chooses them).
"""
from __future__ import annotations

import argparse
import glob
import re
import statistics
import sys
from pathlib import Path


def errors(run_dirs: list[Path], group_by: str) -> dict[str, dict[str, list[float]]]:
    """group → estimator → |estimate − actual| of every healthy evaluated step (and ``<name>@best`` of best.pt's)."""
    from dann_core import files
    from dann_core.selection.estimate import ESTIMATORS
    from dann_core.train.stored import StoredRun

    found: dict[str, dict[str, list[float]]] = {}
    for run_dir in run_dirs:
        match = re.search(group_by, run_dir.name)
        group = match.group(1) if match else run_dir.name
        stored = StoredRun(run_dir)
        labels = None
        best = files.read_json(run_dir / "summary.json").get("best_step") if (run_dir / "summary.json").exists() else None
        for step in stored.healthy_steps:
            if step not in stored.view_paths or stored.target_accuracy(step) is None:
                continue
            candidate = stored.view_candidate(step)
            labels = stored.data.source_val.y if labels is None else labels
            source, target = candidate.view_logits("source_val"), candidate.view_logits("target")
            for name, estimate in ESTIMATORS.items():
                error = abs(estimate(source, labels, target) - stored.target_accuracy(step))
                for key in (name, f"{name}@best") if step == best else (name,):
                    for where in (group, "all"):
                        found.setdefault(where, {}).setdefault(key, []).append(error)
        print(f"{run_dir}: {len(stored.healthy_steps)} steps", file=sys.stderr, flush=True)
    return found


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", help="run directories or glob patterns")
    parser.add_argument("--group-by", default=r"^(.*?)-[^-]+(?:-only)?-s\d+$", help="regex; its first group names a run's group")
    args = parser.parse_args(argv)
    run_dirs = sorted({Path(p) for pattern in args.runs for p in glob.glob(pattern) if (Path(p) / "metrics.jsonl").exists()})
    if not run_dirs:
        parser.error(f"no run directories match {' '.join(args.runs)}")
    found = errors(run_dirs, args.group_by)
    names = [n for n in next(iter(found.values())) if "@" not in n]
    print("| group | estimator | steps | mean abs error | p95 | best.pt: runs | best.pt mean abs error |")
    print("|---|---|---|---|---|---|---|")
    for group in sorted(found, key=lambda g: (g == "all", g)):
        for name in names:
            every, best = found[group].get(name, []), found[group].get(f"{name}@best", [])
            cells = [str(len(every)), f"{statistics.fmean(every):.4f}", f"{percentile(every, 0.95):.4f}", str(len(best)),
                     f"{statistics.fmean(best):.4f}" if best else "n/a"]
            print(f"| {group} | {name} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
