"""What the machine allows this process, and how its OpenMP threads wait: torch-free, so that the
``dann`` entry point can set the wait policy before torch loads and ``dann info`` can report both
without importing torch. The thread-count rule built on these facts is :mod:`dann_core.train.threads`.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

OPENMP_WAIT_POLICY = {"OMP_WAIT_POLICY": "PASSIVE"}
"""What ``dann`` sets before torch loads, unless the user set ``OMP_WAIT_POLICY`` or ``GOMP_SPINCOUNT``.

An OpenMP thread that waits (for the next parallel region, or for the others at a barrier) then
sleeps at once instead of spinning first: GNU libgomp, the runtime of torch's pip wheels (and of
scikit-learn's), spins 300,000 rounds (about 3 ms) by default. When other processes also want the
cores, a spinning thread holds a core its team-mate needs, and every parallel region waits for a
descheduled thread: two threads of a LeNet run took about 20x longer with two CPU-bound processes
beside them. A sleeping thread leaves the core to whoever runs. It changes when threads sleep,
never what they compute (the metrics are the same), and costs little on a quiet machine
(benchmarks/threads.md, ``python -m benchmarks.bench_load``)."""


def set_openmp_wait_policy(environ=None) -> dict[str, str]:
    """Set :data:`OPENMP_WAIT_POLICY` in ``environ`` (``os.environ``) unless the user chose a policy;
    returns what it set ({} when nothing was set).

    libgomp reads these variables once, when torch loads it: this must run before ``import torch``
    (the ``dann`` entry point calls it first; it does nothing once torch is loaded). The processes
    dann starts (sweep workers, ``--nproc`` ranks, data workers) inherit the setting.
    """
    environ = os.environ if environ is None else environ
    if any(key in environ for key in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")) or "torch" in sys.modules:
        return {}
    environ.update(OPENMP_WAIT_POLICY)
    return dict(OPENMP_WAIT_POLICY)


def wait_policy(environ=None) -> str:
    """How this process's OpenMP threads wait, in words (what ``dann run`` and ``dann info`` print)."""
    environ = os.environ if environ is None else environ
    policy, spins = environ.get("OMP_WAIT_POLICY"), environ.get("GOMP_SPINCOUNT")
    if spins is not None:
        return f"spin {spins} rounds, then sleep (GOMP_SPINCOUNT={spins})"
    if policy is None:
        return "spin ~3 ms, then sleep (OpenMP's default)"
    if policy.strip().upper() == "PASSIVE":
        return "sleep at once (OMP_WAIT_POLICY=PASSIVE)"
    if policy.strip().upper() == "ACTIVE":
        return "spin (OMP_WAIT_POLICY=ACTIVE)"
    return f"OMP_WAIT_POLICY={policy}"


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
