"""``--threads 0`` (auto): how many CPU threads torch gets, by a rule measured on the machines we run on.

The rule (benchmarks/threads.md has the measurements; ``python -m benchmarks.bench_train
--sweep-threads 1,2,0`` repeats them):

1. A tiny step runs on **1 thread**. The moons toy MLP (about 1 MFLOP per step) is fastest on one
   thread on a quiet 2-core and a quiet 16-core machine alike (16 threads: half the speed): its
   step is dispatch and autograd overhead, which more threads only add barriers to. Tiny means the
   ``mlp`` backbone no wider than :data:`TINY_MLP_UNITS` units in all (width × depth); the rule is
   decided before the data and networks exist, so it reads the config, not a FLOP count.
2. Otherwise **every idle core this process may use**: this process's share of the physical cores
   (``cores // LOCAL_WORLD_SIZE`` under torchrun), capped by the cores idle right now (sampled from
   /proc/stat over :data:`SAMPLE_S`). LeNet (2.7 GFLOP per step) is 1.8× faster on 2 threads than 1
   and 5× on 16; ResNet-18 on 28×28 images 2× and 7×. But on a busy machine every extra thread
   waits for a core at each parallel region: with the cores taken by other processes, 2 threads ran
   LeNet 3× slower than 1, 4 threads 5× slower. So a busy machine gets fewer threads, down to 1.

The number is resolved once, when the run starts, and written to config.json in place of 0, so a
resumed run uses the same count (thread counts change the rounding of parallel reductions).
"""
from __future__ import annotations

import dataclasses
import os
import time
from pathlib import Path

import torch

TINY_MLP_UNITS = 64
"""An ``mlp`` backbone with at most this many hidden units in all (width × depth) has a tiny step.
Measured: 15 units (the toy, ~1 MFLOP per step) fastest on 1 thread; 3 × 512 units at batch 256
(~1.8 GFLOP) 1.5× faster on 2 threads and 2.8× on 8. The bound sits between, nearer the toy."""
SAMPLE_S = 0.1
"""How long the idle cores are sampled (only for steps that are not tiny)."""


def physical_cores() -> int:
    """Physical cores this process may run on (hyperthreads of one core count once), at least 1."""
    cpus = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else range(os.cpu_count() or 1)
    cores = set()
    for cpu in cpus:
        topology = Path(f"/sys/devices/system/cpu/cpu{cpu}/topology")
        try:
            cores.add((topology.joinpath("physical_package_id").read_text().strip(), topology.joinpath("core_id").read_text().strip()))
        except OSError:
            cores.add(("cpu", str(cpu)))
    return max(1, len(cores))


def _cpu_times() -> tuple[int, int] | None:
    """(idle, total) jiffies of all CPUs from /proc/stat, or None where there is none."""
    try:
        with open("/proc/stat") as f:
            fields = [int(v) for v in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    if len(fields) < 4:
        return None
    return fields[3] + (fields[4] if len(fields) > 4 else 0), sum(fields[:8])


def idle_fraction(seconds: float = SAMPLE_S) -> float | None:
    """Fraction of the machine's CPU time idle over the next ``seconds`` (None where unknown)."""
    before = _cpu_times()
    if before is None:
        return None
    time.sleep(seconds)
    after = _cpu_times()
    if after is None or after[1] <= before[1]:
        return None
    return min(1.0, max(0.0, (after[0] - before[0]) / (after[1] - before[1])))


def tiny_step(backbone: str, backbone_options: dict) -> bool:
    """Whether a run's step is tiny (rule 1): the ``mlp`` backbone with at most TINY_MLP_UNITS units."""
    if backbone != "mlp":
        return False
    options = {str(k).replace("-", "_"): v for k, v in backbone_options.items()}
    try:
        units = int(options.get("width", 15)) * int(options.get("depth", 1))
    except (TypeError, ValueError):
        return False
    return units <= TINY_MLP_UNITS


def auto_threads(tiny: bool, cores: int, processes: int = 1, idle: float | None = None) -> int:
    """The rule: 1 for a tiny step; else this process's share of ``cores`` (``processes`` per machine),
    capped by the idle cores (``idle``: the idle fraction of the machine; None: unknown, not capped)."""
    if tiny:
        return 1
    share = max(1, cores // max(1, processes))
    if idle is None:
        return share
    free = int(idle * cores + 0.5) // max(1, processes)  # idle cores, rounded, split among this run's processes
    return max(1, min(share, free))


def local_processes() -> int:
    """Processes of this run on this machine (torchrun's LOCAL_WORLD_SIZE; 1 otherwise)."""
    try:
        return max(1, int(os.environ.get("LOCAL_WORLD_SIZE", "1")))
    except ValueError:
        return 1


def resolve(cfg, processes: int | None = None) -> int:
    """The thread count a run with config ``cfg`` uses: ``cfg.threads``, or the rule's when it is 0."""
    if cfg.threads:
        return cfg.threads
    tiny = tiny_step(cfg.backbone, cfg.backbone_options)
    return auto_threads(tiny, physical_cores(), processes or local_processes(), None if tiny else idle_fraction())


def apply(cfg):
    """Set torch's CPU threads for a run; returns ``cfg`` with ``threads`` resolved (a copy when it was 0)."""
    count = resolve(cfg)
    torch.set_num_threads(count)
    if cfg.threads == count:
        return cfg
    resolved = dataclasses.replace(cfg, threads=count)
    for note in ("recommended", "overridden"):  # what config.json's provenance records besides the fields
        if hasattr(cfg, note):
            setattr(resolved, note, getattr(cfg, note))
    return resolved
