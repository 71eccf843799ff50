"""Shared benchmark machinery: interleaved timing, a ratio table, and a CSV of results with the machine.

The machine is shared and noisy, so variants are timed in interleaved rounds (each round runs every
variant once) and compared by their medians, measured in the same run. Absolute times mean little;
the ratios are the result. ``use_clock("process")`` times CPU time instead of wall time: with one
thread it ignores the time a loaded machine's scheduler takes away (with more it sums the threads).
A variant with a ``tier`` runs at that CPU SIMD tier, so the tiers are compared side by side too.
"""
from __future__ import annotations

import contextlib
import csv
import datetime as dt
import os
import platform
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch

RESULTS_CSV = Path(__file__).with_name("results.csv")


@dataclass
class Variant:
    name: str
    fn: Callable[[], object]
    tier: str | None = None  # a CPU SIMD tier of dann's kernels to time fn at (None: the active one)


_clock = time.perf_counter_ns
_tiers: list[str] | None = None


def use_clock(kind: str) -> None:
    """'wall' (the default) or 'process' (CPU time of this process, all its threads)."""
    global _clock
    _clock = {"wall": time.perf_counter_ns, "process": time.process_time_ns}[kind]


def clock_name() -> str:
    return "CPU time" if _clock is time.process_time_ns else "wall time"


def set_tiers(tiers: list[str] | None) -> None:
    """The CPU tiers the op benchmarks time dann at (None: every tier this CPU runs)."""
    global _tiers
    _tiers = tiers


def tiers() -> list[str]:
    """The CPU tiers to time, best first; the first is the one ratios are taken against."""
    from dann_core.ops import dispatch

    runs = [name for name, missing in dispatch.cpu_capabilities().items() if not missing]
    return list(_tiers) if _tiers is not None else runs[::-1]


def dann_variants(fn: Callable[[], object]) -> list[Variant]:
    """One ``dann[<tier>]`` variant of ``fn`` per tier in :func:`tiers`."""
    return [Variant(f"dann[{tier}]", fn, tier) for tier in tiers()]


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{cpu} x{torch.get_num_threads()} threads"


def _time_once(v: Variant, iters: int) -> float:
    with _at_tier(v.tier):
        start = _clock()
        for _ in range(iters):
            v.fn()
        return (_clock() - start) / iters / 1e3


def _at_tier(tier: str | None):
    if tier is None:
        return contextlib.nullcontext()
    from dann_core.ops import dispatch

    return dispatch.using_cpu_capability(tier)


def measure(variants: list[Variant], rounds: int = 15, budget_s: float = 0.05) -> dict[str, float]:
    """Median µs per call of each variant, timed in interleaved rounds after a warm-up."""
    iters = {}
    for v in variants:
        for _ in range(3):  # warm-up: first calls compile, allocate, fault pages in
            _time_once(v, 1)
        once = max(_time_once(v, 1), 0.5)
        iters[v.name] = max(1, int(budget_s * 1e6 / once / rounds))
    samples: dict[str, list[float]] = {v.name: [] for v in variants}
    for _ in range(rounds):
        for v in variants:
            samples[v.name].append(_time_once(v, iters[v.name]))
    return {name: statistics.median(ts) for name, ts in samples.items()}


def report(op: str, rows: list[tuple[int, dict[str, float]]], baseline: str, dtype=torch.float32) -> None:
    """Prints µs and the ratio of every variant's time to ``baseline``'s (>1: baseline is faster)."""
    names = list(rows[0][1])
    head = f"{'n':>9} " + " ".join(f"{n:>14}" for n in names)
    print(f"\n{op} ({dtype}, median µs of {clock_name()}; [x] = variant time / {baseline} time)")
    print(head)
    for n, times in rows:
        cells = [f"{times[k]:8.1f} [{times[k] / times[baseline]:4.2f}]" for k in names]
        print(f"{n:>9} " + " ".join(f"{c:>14}" for c in cells))
    _append_csv(op, rows, baseline, dtype)


def _append_csv(op: str, rows, baseline: str, dtype) -> None:
    new = not RESULTS_CSV.exists()
    stamp = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    with RESULTS_CSV.open("a", newline="") as f:
        w = csv.writer(f)
        if new:
            w.writerow(["utc", "machine", "torch", "op", "dtype", "n", "variant", "median_us", "ratio_to_" + "baseline"])
        for n, times in rows:
            for name, us in times.items():
                w.writerow([stamp, machine(), torch.__version__, op, str(dtype).split(".")[-1], n, name,
                            f"{us:.2f}", f"{us / times[baseline]:.3f}"])


def sizes(quick: bool) -> list[int]:
    return [256, 65536, 1 << 20] if quick else [256, 4096, 65536, 1 << 20, 1 << 22]


def loss_backward(loss_and_correct, z, *args) -> Callable[[], object]:
    """Forward + backward of a ``(loss, n_correct)`` function of logits ``z``, as one timed call."""

    def call():
        loss, correct = loss_and_correct(z, *args)
        return torch.autograd.grad(loss, z), correct

    return call


def compiled(fn):
    """torch.compile with the default (inductor) backend; its first call pays the compilation."""
    return torch.compile(fn, dynamic=False)


os.environ.setdefault("TORCHINDUCTOR_FX_GRAPH_CACHE", "1")
