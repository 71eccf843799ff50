"""The digits recipe against its variants on digits-blend, at the default and at full photo intensity.

    python -m benchmarks.recipe_digits [--runs DIR] [--recipes lenet,bn,dbn,dbnstd,lr01] [--methods dann,so]
                                       [--intensities 0.5,1.0] [--seeds 0,1,2] [--collect]

Trains (one run at a time, ``--threads 1``) every missing combination as
``DIR/recipe-{method}[-{recipe}]-i{05|1}-s{seed}`` (the recipe tag is left out for ``lenet``, the
recipe before LeNet-BN), then prints one row per (recipe, intensity, method): target accuracy of
``best.pt`` (chosen by the default selector ``last``; a collapsed run's best.pt is its last healthy
evaluation), source-val accuracy of best.pt, how many runs collapsed (dann_core/train/health.py) and
the target accuracy a run would have reported had it kept its final, collapsed weights. Target
accuracy is reported only: it chose nothing. ``--collect`` reads the run directories and trains nothing.
Every recipe pins its settings (not the datasets' recommendations), so the table does not move when
a recommendation does. About 12 minutes a run on a busy 2-core machine.
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

PINNED = ["--dataset", "digits-blend", "--backbone", "lenet", "--steps", "3000", "--lr", "0.03",
          "--batch-size", "64", "--select", "last", "--threads", "1", "--quiet"]
ADAPTING = ["--lambda", "schedule"]  # source-only takes no λ (dann run refuses the option for it)
RECIPES = {
    "lenet": ["--set", "backbone.norm=none"],  # the paper's LeNet, lr 0.03 (the digits recipe measured on digits-blend before)
    "bn": ["--set", "backbone.norm=batch"],  # LeNet-BN, source and target rows normalised together
    "dbn": ["--set", "backbone.norm=domain"],  # LeNet-BN, each domain's rows by their own batch statistics
    "lr01": ["--set", "backbone.norm=none", "--lr", "0.01"],  # the paper's rate
    "dbnstd": ["--set", "backbone.norm=domain", "--set", "dataset.standardize=domain"],  # and each domain's inputs by its own statistics
}
METHODS = {"dann": "dann", "so": "source-only"}


def run_dir(runs: Path, recipe: str, method: str, intensity: float, seed: int) -> Path:
    tag = "" if recipe == "lenet" else f"-{recipe}"
    return runs / f"recipe-{method}{tag}-i{'05' if intensity == 0.5 else '1'}-s{seed}"


def train(path: Path, recipe: str, method: str, intensity: float, seed: int) -> None:
    command = [sys.executable, "-m", "dann_core", "run", *PINNED, *RECIPES[recipe], "--method", METHODS[method],
               *(ADAPTING if method != "so" else []),
               "--set", f"dataset.photo_intensity={intensity}", "--seed", str(seed), "--out", str(path)]
    print("training", path.name, flush=True)
    subprocess.run(command, check=False)


def read(path: Path) -> dict | None:
    try:
        summary = json.loads((path / "summary.json").read_text())
        final = [json.loads(line) for line in (path / "metrics.jsonl").read_text().splitlines()][-1]
    except (OSError, ValueError, IndexError):
        return None
    return {"target": summary["target_test_acc"], "source_val": summary["best_source_val_acc"], "state": summary.get("state", "trained"),
            "final_target": final.get("target_test_acc")}


def mean_std(values: list[float]) -> str:
    if not values:
        return "n/a"
    spread = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.fmean(values):.3f} ± {spread:.3f}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", default="runs/recipe-digits")
    parser.add_argument("--recipes", default="lenet,dbn")
    parser.add_argument("--methods", default="so,dann")
    parser.add_argument("--intensities", default="0.5,1.0")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--collect", action="store_true", help="read the run directories only")
    args = parser.parse_args(argv)
    runs = Path(args.runs)
    grid = [(r, float(i), m) for r in args.recipes.split(",") for i in args.intensities.split(",") for m in args.methods.split(",")]
    seeds = [int(s) for s in args.seeds.split(",")]
    print("| recipe | photo intensity | method | runs | target acc of best.pt | source val of best.pt | collapsed | target acc of the final weights |")
    print("|---|---|---|---|---|---|---|---|")
    for recipe, intensity, method in grid:
        results = []
        for seed in seeds:
            path = run_dir(runs, recipe, method, intensity, seed)
            if read(path) is None and not args.collect and not path.exists():
                train(path, recipe, method, intensity, seed)
            found = read(path)
            if found is not None:
                results.append(found)
        collapsed = sum(r["state"] == "collapsed" for r in results)
        print(f"| {recipe} | {intensity} | {METHODS[method]} | {len(results)} | {mean_std([r['target'] for r in results])} | "
              f"{mean_std([r['source_val'] for r in results])} | {collapsed} | {mean_std([r['final_target'] for r in results])} |", flush=True)


if __name__ == "__main__":
    main()
