"""The pool of finished runs that the selection benchmark scores: trained once, scored by every selector.

    python -m benchmarks.selection_pool [--out runs/pool] [--only moons,digits-blend,digits-blend-hard]
                                        [--seeds 0,1,2] [--methods ...] [--list]

Each run keeps EVERY evaluated checkpoint (``keep_candidates=1000``) and the stored views, so that any
selector — per checkpoint, set-level, logits-only or feature-based — can score every evaluated step
afterwards without retraining (``benchmarks.selection_table`` reads ``OUT/<task>/<label>-s<seed>``).
A run whose summary.json exists is kept; one that did not finish is resumed (``--resume``), so an
interrupted pool continues. Runs go one at a time, one thread each (the machine is shared).

Tasks: the accuracy table's moons and digits-blend recipes (``benchmarks.accuracy_table.SETTINGS``), and
``digits-blend-hard``: the same digits recipe with the photo at full intensity (``photo_intensity=1.0``,
the MNIST-M blend of the paper, where dark-on-light polarity flips make adaptation hard). Candidates per
task: each method at its default and the settings of ``accuracy_table.SEARCH`` (moons: every method;
the digits tasks: a subset ordered by priority, since a digits run takes minutes).
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from .accuracy_table import COMMON, METHODS, SEARCH, SETTINGS

TASKS = {
    "moons": dict(SETTINGS["moons"]),
    "digits-blend": {**SETTINGS["digits-blend"], "steps": 1500},
    "digits-blend-hard": {**SETTINGS["digits-blend"], "steps": 1500, "dataset_options": {"photo_intensity": 1.0}},
}
"""The digits tasks run the table's recipe for 1500 steps (15 evaluations; lr annealed over them) instead of
3000: a digits run takes 5-10 min on the shared 2 cores, and 1500 steps already separate the methods
(digits_blend's docstring: source-only 0.767 → DANN 0.825 at 1500 steps)."""
DIGITS_METHODS = ("source-only", "dann", "mcd", "dann[plus=mcc,mcc_weight=0.1]", "cdan", "dann[lambda=1]", "mcd[generator_steps=1]")
"""The digits tasks' candidates, most informative first: the baseline, DANN, the method that gained most on an
MNIST→MNIST-M-like task (mcd), the best DANN-family setting of the digits table, CDAN, then one changed setting
each of DANN and MCD."""
POOL_SETTINGS = {"keep_candidates": 1000, "threads": 1, "select": "last", "score": ""}


def candidates(task: str) -> list[str]:
    if task != "moons":
        return list(DIGITS_METHODS)
    labels = [m for m in METHODS if m != "target-oracle"]  # an oracle reads target labels: not a candidate
    for extra in SEARCH.values():
        labels += [label for label in extra if label not in labels]
    return labels


def run_dir(out: Path, task: str, label: str, seed: int) -> Path:
    return out / task / f"{label}-s{seed}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/pool")
    parser.add_argument("--only", default=",".join(TASKS))
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--methods", default="", help="comma list overriding every task's candidates (brackets allowed)")
    parser.add_argument("--list", action="store_true", help="print the planned runs and their state, train nothing")
    args = parser.parse_args(argv)

    from dann_core.config import RunConfig
    from dann_evaluation.tables import method_config, parse_methods

    out, seeds = Path(args.out), [int(s) for s in args.seeds.split(",") if s.strip()]
    plan = []
    for task in [t.strip() for t in args.only.split(",") if t.strip()]:
        if task not in TASKS:
            parser.error(f"unknown task {task!r}; choose from {', '.join(TASKS)}")
        labels = parse_methods(args.methods) if args.methods else candidates(task)
        base = RunConfig(**{**COMMON, **TASKS[task], **POOL_SETTINGS})
        # method-major, seeds and tasks inner: an interrupted pool still holds whole rows
        plan += [(labels.index(label), task, label, seed, base) for label in labels for seed in seeds]
    plan.sort(key=lambda item: item[0])
    started = time.perf_counter()
    for _, task, label, seed, base in plan:
        directory = run_dir(out, task, label, seed)
        done = (directory / "summary.json").exists()
        if args.list or done:
            print(f"{'done' if done else 'todo'} {directory}")
            continue
        cfg = method_config(base, label).to_dict()
        cfg.update(seed=seed, out=None)
        directory.parent.mkdir(parents=True, exist_ok=True)
        config_file = directory.parent / f".{directory.name}.json"
        config_file.write_text(json.dumps({k: v for k, v in cfg.items() if v is not None}))
        command = [sys.executable, "-m", "dann_core", "run", "--quiet"]
        command += ["--resume", str(directory)] if (directory / "config.json").exists() else ["--config", str(config_file), "--out", str(directory)]
        t0 = time.perf_counter()
        result = subprocess.run(command, capture_output=True, text=True)
        state = "ok" if result.returncode == 0 else f"exit {result.returncode}: {result.stderr.strip().splitlines()[-1:]}"
        print(f"{directory} {time.perf_counter() - t0:.0f}s {state}", flush=True)
    print(f"pool: {time.perf_counter() - started:.0f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
