"""Runs every op benchmark: ``python -m benchmarks [--quick] [--only grl,bce,...]``."""
from __future__ import annotations

import argparse

import torch

from benchmarks import bench_domain_bce, bench_domain_ce, bench_grl, bench_grl_linear, bench_split_reverse
from benchmarks.common import RESULTS_CSV, machine
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
    print(f"machine: {machine()}; torch {torch.__version__}; kernels: {ops.build_info()}")
    print("ratios [x] are each variant's median time over dann's: above 1 means dann is faster")
    for name in args.only.split(","):
        BENCHES[name].run(quick=args.quick)
    print(f"\nappended to {RESULTS_CSV}")


if __name__ == "__main__":
    main()
