"""``--threads 0`` (auto): how many CPU threads torch gets, by a rule measured on the machines we run on.

The rule (benchmarks/threads.md has the measurements; ``python -m benchmarks.bench_train
--sweep-threads 1,2,0`` repeats them):

1. A tiny step runs on **1 thread**. The moons toy MLP (about 1 MFLOP per step) is fastest on one
   thread on a quiet 2-core and a quiet 16-core machine alike (16 threads: half the speed): its
   step is dispatch and autograd overhead, which more threads only add barriers to. Tiny means the
   ``mlp`` backbone no wider than :data:`TINY_MLP_UNITS` units in all (width × depth); the rule is
   decided before the data and networks exist, so it reads the config, not a FLOP count.
2. Otherwise **this process's share of the machine**: the physical cores it may run on (its CPU
   affinity), capped by the container's CPU quota (cgroup ``cpu.max`` / ``cfs_quota_us``), divided
   among the run's processes on the machine (``LOCAL_WORLD_SIZE`` under torchrun). LeNet (2.7 GFLOP
   per step) is 1.8× faster on 2 threads than 1 and 5× on 16; ResNet-18 on 28×28 images 2× and 7×.

The count depends on the machine, never on its momentary load: thread counts change the order of
float reductions, so a count read from the load (an earlier rule sampled idle cores) gave the same
command different metrics on a busy and a quiet machine. On a busy machine more threads than free
cores are slow (2 threads ran LeNet 3× slower than 1 with the cores taken): pass ``--threads 1``
there; the metrics then differ from a run with another count, as they would anyway.

The number is resolved once, when the run starts, and written to config.json in place of 0, so a
resumed run uses the same count. Settings that change results bit for bit: the seed, the thread
count, ``--nproc``, precision, ``--compile``, ``--kernels`` and the device; workers of a streamed
dataset do not.
"""
from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import torch

TINY_MLP_UNITS = 64
"""An ``mlp`` backbone with at most this many hidden units in all (width × depth) has a tiny step.
Measured: 15 units (the toy, ~1 MFLOP per step) fastest on 1 thread; 3 × 512 units at batch 256
(~1.8 GFLOP) 1.5× faster on 2 threads and 2.8× on 8. The bound sits between, nearer the toy."""
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


def cpu_quota() -> int | None:
    """CPUs the cgroup quota allows this process (rounded up), or None where there is no quota."""
    candidates = [("/sys/fs/cgroup/cpu.max", None), ("/sys/fs/cgroup/cpu/cpu.cfs_quota_us", "/sys/fs/cgroup/cpu/cpu.cfs_period_us")]
    for path, period_path in candidates:
        try:
            text = Path(path).read_text().split()
            if period_path is None:  # cgroup v2: "max 100000" or "200000 100000"
                quota, period = text[0], text[1]
            else:
                quota, period = text[0], Path(period_path).read_text().split()[0]
        except (OSError, IndexError):
            continue
        if quota in ("max", "-1"):
            return None
        try:
            return max(1, -(-int(quota) // int(period)))
        except (ValueError, ZeroDivisionError):
            return None
    return None


def machine_cores() -> int:
    """The cores this process may use: its physical cores, capped by the CPU quota."""
    quota = cpu_quota()
    cores = physical_cores()
    return cores if quota is None else max(1, min(cores, quota))


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


def auto_threads(tiny: bool, cores: int, processes: int = 1) -> int:
    """The rule: 1 for a tiny step; else this process's share of ``cores`` (``processes`` per machine)."""
    if tiny:
        return 1
    return max(1, cores // max(1, processes))


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
    return auto_threads(tiny, 1 if tiny else machine_cores(), processes or local_processes())


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
