"""DEV's domain classifier: scikit-learn (what DEV ran before) against the torch fit, side by side.

``python -m benchmarks.bench_dev [--rows 1000] [--train-steps 150] [--rounds 5] [--threads 2]``

Features are what DEV meets in a run: LeNet features (768-dim) of digits-blend's source-train and
target rows (``--rows`` of each: 2,000 × 768 by default) and of its source-val rows, from the
default digits-blend recipe's network at initialisation and after ``--train-steps`` DANN steps
(the domains are nearly separable by then, which is what makes the fit slow). The scikit-learn side
is exactly DEV's former code: float64 ``StandardScaler`` + ``LogisticRegression(C=1, lbfgs,
max_iter=2000)`` and ``predict_proba`` on source-val; the torch side is
:func:`dann_selectors.dev.density_ratios` (standardise, truncated Newton, ratios) on the same float32
features. Both are timed whole (inputs to density ratios), in interleaved rounds after one warm-up call
each, every call after SETTLE_S of idle time (so that neither side runs while the other's worker
threads still spin), and compared by their medians; the line also gives how far apart the two fits' log density ratios
are (scikit-learn stops at its default tolerance 1e-4, short of the minimiser the torch fit reaches).

scikit-learn is timed twice: with its BLAS threads as a process gets them (what DEV ran inside
``dann run``) and limited to one BLAS thread (``threadpoolctl``). On this 2-core machine the second is
15-30x faster than the first: the BLAS's threads spin on the lbfgs iterations' small products, the more
so when torch's threads or another process hold the cores. One BLAS thread is scikit-learn at its best
here (and stops short of the minimiser); the first configuration is what DEV ran.
"""
from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

from benchmarks.common import machine

SETTLE_S = 0.3
"""Idle time before each timed call: OpenBLAS's and OpenMP's worker threads spin for ~0.1 s after a call,
and on 2 cores they would take the next side's cores."""


def sklearn_density_ratios(source: np.ndarray, target: np.ndarray, source_val: np.ndarray, C: float) -> np.ndarray:
    """DEV's density ratios as DEV computed them with scikit-learn (the baseline)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    x = np.concatenate([source, target])
    y = np.concatenate([np.zeros(len(source)), np.ones(len(target))])
    scaler = StandardScaler().fit(x)
    classifier = LogisticRegression(C=C, max_iter=2000, random_state=0).fit(scaler.transform(x), y)
    p_target = classifier.predict_proba(scaler.transform(source_val))[:, 1].clip(1e-6, 1 - 1e-6)
    return (len(source) / len(target)) * p_target / (1 - p_target)


def feature_sets(rows: int, train_steps: int, threads: int) -> dict[str, tuple[torch.Tensor, ...]]:
    """Name → (source, target, source_val) LeNet features of digits-blend, before and after training."""
    from dann_core import config as config_io
    from dann_core.selection import Candidate, SelectionData
    from dann_core.train import Trainer

    trainer = Trainer(config_io.resolve(flags={"dataset": "digits-blend", "threads": threads, "steps": 100_000, "eval_every": 100_000}))
    data = SelectionData.of(trainer.data, trainer.config.seed)
    sets = {}
    for steps in (0, train_steps):
        for _ in range(steps):
            trainer.engine.step(trainer.next_batch())
        candidate = Candidate(steps, trainer.method, data)
        sets[f"lenet step {steps}"] = (
            candidate.features(data.subsample(data.source_train.x, rows)),
            candidate.features(data.subsample(data.target_x, rows)),
            candidate.features(data.source_val.x),
        )
    return sets


def main() -> None:
    from dann_selectors.dev import density_ratios

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1000, help="rows of each domain for the classifier (DEV's max_samples)")
    parser.add_argument("--train-steps", type=int, default=150, help="DANN steps before the second feature set")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved timed calls per side")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--C", type=float, default=1.0, help="DEV's C")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    sets = feature_sets(args.rows, args.train_steps, args.threads)
    print(f"# bench_dev on {machine()}, torch {torch.__version__}; {args.rounds} interleaved rounds, C={args.C}")
    ratios = []
    for name, (source, target, val) in sets.items():
        arrays = tuple(x.numpy() for x in (source, target, val))
        sides = {
            "sklearn": lambda: sklearn_density_ratios(*arrays, args.C),
            "sklearn-1": lambda: one_blas_thread(sklearn_density_ratios, *arrays, args.C),
            "torch": lambda: density_ratios(source, target, val, args.C),
        }
        results = {side: fn() for side, fn in sides.items()}  # warm-up, and the results compared
        samples = {side: [] for side in sides}
        for _ in range(args.rounds):
            for side, fn in sides.items():
                time.sleep(SETTLE_S)
                start = time.perf_counter()
                fn()
                samples[side].append(time.perf_counter() - start)
        median = {side: statistics.median(s) for side, s in samples.items()}
        ratio = (median["sklearn"] / median["torch"], median["sklearn-1"] / median["torch"])
        ratios.append(ratio)
        gap = float(np.abs(np.log(results["torch"].cpu().numpy() / results["sklearn"])).max())
        print(f"{name:<15} {len(source) + len(target)} x {source.shape[1]}: sklearn {median['sklearn'] * 1e3:7.1f} ms, "
              f"with 1 BLAS thread {median['sklearn-1'] * 1e3:6.1f} ms; torch {median['torch'] * 1e3:6.1f} ms; "
              f"sklearn/torch {ratio[0]:5.2f}x, 1-thread sklearn/torch {ratio[1]:5.2f}x  (max |log ratio gap| {gap:.3g})", flush=True)
    size = f"{2 * args.rows} x {sets[name][0].shape[1]}"
    print(f"sklearn/torch at {size}: {min(r[0] for r in ratios):.2f}x to {max(r[0] for r in ratios):.2f}x; "
          f"1-BLAS-thread sklearn/torch: {min(r[1] for r in ratios):.2f}x to {max(r[1] for r in ratios):.2f}x")


def one_blas_thread(fn, *args):
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):
        return fn(*args)


if __name__ == "__main__":
    main()
