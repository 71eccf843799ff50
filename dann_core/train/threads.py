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
command different metrics on a busy and a quiet machine. What makes a busy machine bearable is how
idle threads wait, which changes no result: the ``dann`` entry point has OpenMP threads sleep at
once instead of spinning about 3 ms (:data:`dann_core.machine.OPENMP_WAIT_POLICY`; spinning threads
made a 2-thread LeNet run about 20× slower beside two CPU-bound processes). ``--threads 1`` remains
the choice for a machine known to be crowded; its metrics differ from another count's, as always.
The run prints the count, why, and how idle threads wait (:func:`describe`).

The number is resolved once, when the run starts, and written to config.json in place of 0, so a
resumed run uses the same count. Settings that change results bit for bit: the seed, the thread
count, ``--nproc``, precision, ``--compile``, ``--kernels`` and the device; workers of a streamed
dataset do not.
"""
from __future__ import annotations

import dataclasses
import os

import torch

from ..machine import cpu_quota, machine_cores, physical_cores, wait_policy  # noqa: F401 (re-exported)
from .. import machine

TINY_MLP_UNITS = 64
"""An ``mlp`` backbone with at most this many hidden units in all (width × depth) has a tiny step.
Measured: 15 units (the toy, ~1 MFLOP per step) fastest on 1 thread; 3 × 512 units at batch 256
(~1.8 GFLOP) 1.5× faster on 2 threads and 2.8× on 8. The bound sits between, nearer the toy."""


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
    return auto_threads(tiny, 1 if tiny else machine.machine_cores(), processes or local_processes())


def describe(requested: int, used: int, cfg, resumed: bool = False) -> str:
    """The ``threads:`` line of a run: the count, why (``--threads``, the rule's reason, or the resumed
    run's config.json) and how idle OpenMP threads wait (:func:`dann_core.machine.wait_policy`)."""
    if resumed:
        why = "the run's config.json, as it started"
    elif requested:
        why = "--threads"
    elif tiny_step(cfg.backbone, cfg.backbone_options):
        why = f"auto: 1 for the tiny {cfg.backbone} step"
    else:
        processes = local_processes()
        share = f", shared by {processes} processes" if processes > 1 else ""
        why = f"auto: this process's {machine.machine_cores()} physical core(s){share}"
    return f"threads: {used} ({why}); idle threads {wait_policy()}"


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
