"""Runs every op benchmark: ``python -m benchmarks [--quick] [--only grl,bce,...] [--tiers avx2,default]``.

dann's kernels are timed at every CPU SIMD tier this CPU runs (``dann[avx2]``, ``dann[default]``, ...),
side by side with the baselines; ratios are taken against the best tier.
"""
from __future__ import annotations

import argparse

import torch

from benchmarks import bench_domain_bce, bench_domain_ce, bench_grl, bench_grl_linear, bench_split_reverse
from benchmarks.common import RESULTS_CSV, machine, set_tiers, use_clock
from dann_core import ops

BENCHES = {
    "grl": bench_grl,
    "split": bench_split_reverse,
    "bce": bench_domain_bce,
    "ce": bench_domain_ce,
    "linear": bench_grl_linear,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer sizes (for CI smoke runs)")
    parser.add_argument("--only", default=",".join(BENCHES), help=f"comma list of {', '.join(BENCHES)}")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default, all cores)")
    parser.add_argument("--tiers", default="", help="comma list of CPU tiers to time dann at (default: all this CPU runs)")
    parser.add_argument("--clock", choices=("wall", "process"), default="wall",
                        help="wall time, or the process's CPU time (with --threads 1: robust on a loaded machine)")
    args = parser.parse_args()
    if args.threads:
        # On a shared machine a busy core stalls every parallel region at the scheduler's quantum;
        # one thread then measures the kernels rather than the neighbours.
        torch.set_num_threads(args.threads)
    unknown = set(args.only.split(",")) - set(BENCHES)
    if unknown:
        parser.error(f"unknown benchmark {', '.join(sorted(unknown))}; choose from {', '.join(BENCHES)}")
    if ops.backend("cpu") != "ext":
        parser.error("the compiled extension is not available: build it with pip install --no-build-isolation -e .")
    if args.tiers:
        tiers = args.tiers.split(",")
        for tier in tiers:
            missing = ops.cpu_capabilities().get(tier)
            if missing is None or missing:
                parser.error(f"--tiers: {tier!r} does not run here; this CPU runs: {ops.dispatch.describe_cpu_capability()}")
        set_tiers(tiers)
    use_clock(args.clock)
    print(f"machine: {machine()}; torch {torch.__version__}; kernels: {ops.build_info()}")
    print(f"cpu capability: {ops.dispatch.describe_cpu_capability()}")
    print("ratios [x] are each variant's median time over dann's at the first tier: above 1 means dann is faster")
    for name in args.only.split(","):
        BENCHES[name].run(quick=args.quick)
    print(f"\nappended to {RESULTS_CSV}")


if __name__ == "__main__":
    main()
