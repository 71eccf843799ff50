"""The whole run, shell prompt to the end: ``dann run`` against the plain PyTorch script, side by side.

``python -m benchmarks.bench_e2e [--repeats 3] [--workloads moons,digits,digits-500] [--variants default,best,flags]
[--threads N] [--device cpu] [--quick]``

Each measurement is one separate process, timed by wall clock from its start (interpreter start-up and
imports included) to its exit (``dann run`` has written summary.json by then; the plain script has
saved its final weights and summary). The sides run interleaved (dann, plain, dann, plain, ...),
``--repeats`` times each, and are compared by their medians: ``plain/dann`` > 1 means dann finished
sooner. Absolute seconds on a shared machine mean little; the ratios within one run are the result.

- dann: ``python -m dann_core run --dataset D [--steps N] --quiet --out TMP`` + the variant's flags;
  everything else is dann's defaults and the dataset's recommended recipe (moons: the toy MLP, lr
  0.1, λ = 6; digits-blend: LeNet, lr 0.03, the λ ramp), ``--eval-every 100``, ``--select last``.
- plain: benchmarks/e2e_plain.py, the loop of benchmarks/textbook.py with the same networks, data
  (dann's dataset plugin functions: the data are built in both processes and are not what is
  compared), batch, schedules, SGD momentum, and a target-test accuracy evaluation at dann's
  ``--eval-every`` cadence.
- Workloads: moons (3,000 steps), digits (digits-blend's default recipe, 3,000 steps), digits-500
  (500 steps). Variants: default (no flags: dann's ``--threads 0`` picks its threads, the plain
  script keeps torch's default), best (``--precision bf16 --compile --threads N``, the same flags
  for both sides) and flags (dann with ``--precision bf16 --threads N``, its fastest flags for these
  small networks on a CPU, against the plain script as its user wrote it, fp32 and torch's threads:
  what switching to dann and passing two flags buys; ``--compile`` is left out because compiling
  outlasts what it saves over 500-3,000 steps of LeNet or the toy MLP, as the best variant shows).
- ``--quick``: a smoke run of moons and digits at 20 steps with an evaluation every 10, one repeat,
  and the best variant without ``--compile`` (compiling alone outlasts the smoke run): 8 processes,
  under a minute on a quiet 2-core machine; it checks that both sides run, not how fast they are.

``eval %`` is the share of dann's whole-process wall clock spent evaluating (summary.json's
``eval_seconds``: accuracies, selectors, views; the median run's). Each row also gives both sides'
last target accuracy (dann: the last metrics.jsonl line), a check that they did the same work.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PLAIN = ROOT / "benchmarks" / "e2e_plain.py"

WORKLOADS = {
    "moons": {"dataset": "moons", "steps": 3000},
    "digits": {"dataset": "digits-blend", "steps": 3000},
    "digits-500": {"dataset": "digits-blend", "steps": 500},
}
EVAL_EVERY = 100
"""dann's default --eval-every; the plain script is given the same."""


VARIANTS = ("default", "best", "flags")


def variant_flags(variant: str, threads: int, quick: bool) -> dict[str, list[str]]:
    """Each side's flags: ``{"dann": [...], "plain": [...]}``."""
    fast = ["--precision", "bf16", "--threads", str(threads)]
    if variant == "default":
        return {"dann": [], "plain": []}
    if variant == "flags":
        return {"dann": fast, "plain": []}
    best = fast if quick else [*fast, "--compile"]
    return {"dann": best, "plain": best}


def environment() -> dict[str, str]:
    """The caller's environment with this checkout and its plugins first on PYTHONPATH (no install needed)."""
    paths = [str(ROOT), str(ROOT / "plugins")]
    if os.environ.get("PYTHONPATH"):
        paths.append(os.environ["PYTHONPATH"])
    return {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}


def commands(workload: str, steps: int, eval_every: int, flags: dict[str, list[str]], device: str, out: Path) -> dict[str, list[str]]:
    dataset = WORKLOADS[workload]["dataset"]
    common = ["--dataset", dataset, "--steps", str(steps), "--device", device, "--eval-every", str(eval_every)]
    return {
        "dann": [sys.executable, "-m", "dann_core", "run", *common, *flags["dann"], "--quiet", "--out", str(out / "dann")],
        "plain": [sys.executable, str(PLAIN), *common, *flags["plain"], "--out", str(out / "plain")],
    }


def timed(command: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    result = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        tail = (result.stderr or result.stdout).strip().splitlines()[-5:]
        raise SystemExit(f"bench_e2e: {' '.join(command[1:4])} ... failed ({result.returncode}):\n" + "\n".join(tail))
    return seconds


def eval_seconds(out: Path) -> float | None:
    return json.loads((out / "dann" / "summary.json").read_text()).get("eval_seconds")


def last_accuracy(side: str, out: Path) -> float | None:
    if side == "dann":
        lines = (out / "dann" / "metrics.jsonl").read_text().splitlines()
        return json.loads(lines[-1]).get("target_test_acc") if lines else None
    return json.loads((out / "plain" / "summary.json").read_text())["target_test_acc"]


def measure(workload: str, variant: str, args, env) -> dict:
    steps = args.steps or WORKLOADS[workload]["steps"]
    flags = variant_flags(variant, args.threads, args.quick)
    seconds: dict[str, list[float]] = {"dann": [], "plain": []}
    accuracy: dict[str, float | None] = {}
    evaluating: list[float] = []
    for _ in range(args.repeats):
        for side in ("dann", "plain"):  # interleaved: a drift in the machine's load hits both sides alike
            with tempfile.TemporaryDirectory(prefix="bench_e2e.") as tmp:
                command = commands(workload, steps, args.eval_every, flags, args.device, Path(tmp))[side]
                seconds[side].append(timed(command, env))
                accuracy[side] = last_accuracy(side, Path(tmp))
                if side == "dann":
                    evaluating.append((eval_seconds(Path(tmp)) or 0.0) / seconds[side][-1])
    median = {side: statistics.median(s) for side, s in seconds.items()}
    shown = " ".join(flags["dann"]) or "(none)"
    if flags["plain"] != flags["dann"]:
        shown = f"dann {shown}, plain {' '.join(flags['plain']) or '(none)'}"
    return {"steps": steps, "flags": shown, "seconds": seconds, "median": median, "accuracy": accuracy,
            "eval_share": statistics.median(evaluating)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="processes per side and configuration")
    parser.add_argument("--workloads", default=None, help=f"comma list of {', '.join(WORKLOADS)} (default: all; --quick: moons,digits)")
    parser.add_argument("--variants", default=",".join(VARIANTS), help=f"comma list of {', '.join(VARIANTS)}")
    parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)), help="--threads of the best variant (default: this process's CPUs)")
    parser.add_argument("--device", default="cpu", help="--device for both sides")
    parser.add_argument("--steps", type=int, default=None, help="override every workload's steps")
    parser.add_argument("--eval-every", type=int, default=EVAL_EVERY, help="both sides' evaluation cadence")
    parser.add_argument("--quick", action="store_true", help="smoke run: 20 steps, an evaluation every 10, one repeat, no --compile")
    args = parser.parse_args()
    if args.quick:  # at 20 steps digits-500 would repeat digits
        args.steps, args.eval_every, args.repeats = args.steps or 20, 10, 1
        args.workloads = args.workloads or "moons,digits"
    args.workloads = args.workloads or ",".join(WORKLOADS)
    unknown = [w for w in args.workloads.split(",") if w not in WORKLOADS] + [v for v in args.variants.split(",") if v not in VARIANTS]
    if unknown:
        parser.error(f"unknown workload or variant {', '.join(unknown)}; workloads: {', '.join(WORKLOADS)}; variants: {', '.join(VARIANTS)}")
    env = environment()
    import torch  # the parent only reports the machine; it times nothing in-process

    from benchmarks.common import machine

    print(f"# bench_e2e on {machine()} ({len(os.sched_getaffinity(0))} CPUs), torch {torch.__version__}, device {args.device}; "
          f"{args.repeats} repeat(s) per side, interleaved; whole-process wall clock; load average {os.getloadavg()[0]:.2f}"
          + (" [--quick: a smoke run, not a measurement]" if args.quick else ""))
    print(f"{'workload':<11} {'variant':<8} {'steps':>5} {'dann s':>8} {'plain s':>8} {'plain/dann':>10} "
          f"{'eval %':>6} {'dann acc':>8} {'plain acc':>9}  flags; every run's seconds (dann | plain)")
    for workload in args.workloads.split(","):
        for variant in args.variants.split(","):
            r = measure(workload, variant, args, env)
            m, acc = r["median"], r["accuracy"]
            runs = " ".join(f"{s:.1f}" for s in r["seconds"]["dann"]) + " | " + " ".join(f"{s:.1f}" for s in r["seconds"]["plain"])
            print(f"{workload:<11} {variant:<8} {r['steps']:>5} {m['dann']:>8.2f} {m['plain']:>8.2f} {m['plain'] / m['dann']:>9.2f}x "
                  f"{100 * r['eval_share']:>6.1f} {_acc(acc['dann']):>8} {_acc(acc['plain']):>9}  {r['flags']}; {runs}", flush=True)
    print(f"# load average after: {os.getloadavg()[0]:.2f}")


def _acc(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


if __name__ == "__main__":
    main()
