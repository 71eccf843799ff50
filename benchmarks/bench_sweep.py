"""8 moons jobs of one sweep with ``--workers 2`` vs ``--workers 1``, measured side by side.

    python -m benchmarks.bench_sweep [--steps 300] [--jobs 8]

Both sweeps run the same 8 configurations (a λ grid) with one torch thread per job, each job in a
fresh process (the local launcher), into fresh directories; the wall time of each whole sweep is
printed and the ratio workers-1 / workers-2. Run it on a quiet machine: other load takes cores away
from the 2-worker sweep first.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path


def sweep_seconds(workers: int, steps: int, jobs: int, out: Path) -> float:
    import dann_launchers
    from dann_core.config import RunConfig
    from dann_core.testing import registry_with
    from dann_evaluation.sweep import run_sweep

    base = RunConfig(dataset="moons", steps=steps, eval_every=max(1, steps // 4), select="source-val", threads=1, kernels="reference")
    grid = {"lambda": [round(0.1 * i, 2) for i in range(jobs)]}
    started = time.perf_counter()
    result = run_sweep(base, grid, out, select="source-val", registry=registry_with(dann_launchers), workers=workers,
                       stream=open(os.devnull, "w"))
    seconds = time.perf_counter() - started
    assert result["launch"].count("done") == jobs, result["launch"].summary()
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--jobs", type=int, default=8)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        one = sweep_seconds(1, args.steps, args.jobs, Path(tmp) / "w1")
        two = sweep_seconds(2, args.steps, args.jobs, Path(tmp) / "w2")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"bench_sweep: {args.jobs} moons jobs x {args.steps} steps, {os.cpu_count()} CPUs, load {load:.2f} at the end")
    print(f"  workers 1: {one:.1f} s   workers 2: {two:.1f} s   speed-up {one / two:.2f}x")


if __name__ == "__main__":
    sys.exit(main())
