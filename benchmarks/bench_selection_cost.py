"""What selection costs a run, measured side by side in one process.

    python -m benchmarks.bench_selection_cost [--dataset digits-blend] [--eval-every 100] [--rounds 3] [--threads 1]

Times, interleaved ``--rounds`` times on one trainer (medians): ``--eval-every`` training steps; the
evaluation's forward passes for the reported accuracies (source val + target test); the two stored
target views the selectors read (``target``, ``target_mix``: 2 × 1,000 rows); the label-free estimate;
every per-evaluation selector at one evaluation (``--score all``); and, afterwards, every
view-reading selector scoring one stored step (``dann eval select``, no forward pass). Prints each as a
share of (steps + accuracies' evaluation), the cost of one evaluation period of a run with ``last``.
Absolute times on a shared machine mean little; the ratios within one run are the result.
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch

from benchmarks.common import machine


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="digits-blend")
    parser.add_argument("--eval-every", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)

    from dann_core.config import resolve
    from dann_core.plugins import get_registry
    from dann_core.selection import Candidate, SelectionData, estimate_target_accuracy
    from dann_core.train import Trainer

    registry = get_registry()
    # the dataset's recipe (digits-blend: LeNet, lr 0.03), as `dann run --dataset ... --score all` trains it
    cfg = resolve(flags={"dataset": args.dataset, "threads": args.threads, "score": "all"}, registry=registry)
    trainer = Trainer(cfg, registry=registry)
    data, method = trainer.data, trainer.method
    selection = SelectionData.of(data, 0)
    per_eval = {name: registry.build("selector", name, {}) for name in registry.selectors}
    per_eval = {name: s for name, s in per_eval.items() if s.per_eval}

    def fresh() -> Candidate:
        return Candidate(0, method, selection, "cpu")

    def steps():
        for _ in range(args.eval_every):
            trainer.engine.step(trainer.next_batch())

    def accuracies(candidate):
        for split in (data.source_val, data.target_test):
            candidate.logits(split.x)

    def views(candidate):
        candidate.view_logits("target"), candidate.view_logits("target_mix")

    timings: dict[str, list[float]] = {}

    def timed(name, fn):
        started = time.perf_counter()
        fn()
        timings.setdefault(name, []).append(time.perf_counter() - started)

    for name, selector in per_eval.items():  # warm-up: one-off costs (IW's weights, imports) outside the timings
        selector.score(fresh())
    for _ in range(args.rounds):
        timed(f"{args.eval_every} training steps", steps)
        candidate = fresh()
        timed("evaluation: accuracies (source val + target test)", lambda: accuracies(candidate))
        timed("stored target views (2 x 1,000 rows)", lambda: views(candidate))
        timed("target-accuracy estimate (ATC)", lambda: estimate_target_accuracy(candidate))
        for name, selector in per_eval.items():
            timed(f"--score all: {name}", lambda s=selector: s.score(candidate))
        stored = Candidate.from_views(0, selection, {n: candidate.view_logits(n) for n in ("source_val", "target", "target_mix")})
        for name, selector in per_eval.items():
            if name not in ("dev", "classami", "last"):
                timed(f"afterwards from views: {name}", lambda s=selector: s.score(stored))
    median = {name: statistics.median(values) for name, values in timings.items()}
    period = median[f"{args.eval_every} training steps"] + median["evaluation: accuracies (source val + target test)"]
    print(f"{machine()}; torch {torch.__version__}; {args.dataset}, threads {args.threads}, median of {args.rounds} rounds")
    print(f"one evaluation period with --select last (steps + accuracies): {period:.3f} s")
    for name, value in median.items():
        print(f"  {name:<55} {value * 1000:9.1f} ms  {100 * value / period:6.2f}% of the period")
    score_all = sum(v for n, v in median.items() if n.startswith("--score all"))
    extra = median["stored target views (2 x 1,000 rows)"] + median["target-accuracy estimate (ATC)"]
    print(f"views + estimate (every run now): {100 * extra / period:.2f}%; plus --score all: {100 * (extra + score_all) / period:.2f}%")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
