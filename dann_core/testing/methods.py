""":func:`check_method`: a method trains, gives the same metrics twice with one seed, and (when asked)
trains under bf16 autocast and under torch.compile too."""
from __future__ import annotations

import functools
from typing import Any

from .core import first_line, registry_or_default, require, train_tiny

__all__ = ["VARIANT_PRECISIONS", "check_algorithm", "check_method"]

VARIANT_PRECISIONS = ("fp32", "bf16")
"""The precisions :func:`check_method` can train a method under on the CPU (fp16 needs CUDA's loss scaling)."""


def check_method(name: str, options: dict | None = None, registry=None, *, precision: str = "fp32", compile: bool = False,
                 **settings: Any):
    """Train method ``name`` twice with one seed (the metrics must be finite and identical); returns the summary.

    ``precision="bf16"`` (autocast on the CPU, as ``dann run --precision bf16``) and ``compile=True``
    (the model's modules torch.compiled, as ``dann run --compile``) check a variant instead: one tiny
    run under it, whose metrics must be finite; a failure is one line naming the method and the
    variant. Where torch.compile cannot run (no C++ compiler), the compile variant skips the test.
    """
    if precision not in VARIANT_PRECISIONS:
        raise ValueError(f"check_method: precision must be one of {', '.join(VARIANT_PRECISIONS)} (the check runs on the CPU), got {precision!r}")
    registry = registry_or_default(registry)
    variant = ", ".join(([f"precision={precision}"] if precision != "fp32" else []) + (["compile=True"] if compile else []))
    where = f"method '{name}'" + (f" under {variant}" if variant else "")
    if compile:
        _require_compile(where)
    under = {**({"precision": precision} if precision != "fp32" else {}), **({"compile": True} if compile else {})}
    run = functools.partial(train_tiny, registry, where, method=name, method_options=dict(options or {}), **under, **settings)
    first = run()
    _require_declared_metrics(registry, name, where, first["records"])
    if variant:  # the fp32 check compares two runs; a variant asks only that the method trains under it
        return first["summary"]
    second = run()
    require(first["records"] == second["records"], f"{where} logged different metrics in two runs with one seed; use the run's seeded RNGs only")
    return first["summary"]


def _require_declared_metrics(registry, name: str, where: str, records: list[dict[str, Any]]) -> None:
    """Every metric the method class declares for the summary, the progress bar or the schedule records
    is reported at some evaluation (a phase may leave a name out: every evaluation counts). λ is the
    trainer's default schedule record, absent from methods without a reversal layer."""
    factory = registry.get("method", name).factory  # a class, or a lazy reference that forwards attributes to it
    declared: dict[str, str] = {}
    for attribute in ("summary_metrics", "progress_metrics", "schedule_metrics"):
        for metric in getattr(factory, attribute, ()) or ():
            declared.setdefault(metric, attribute)
    reported = set().union(*(record.keys() for record in records))
    missing = [f"{attribute} '{metric}'" for metric, attribute in declared.items() if metric not in reported and metric != "lambda"]
    require(not missing, f"{where} declares {', '.join(missing)} but never reports it in its metrics (it reports: {', '.join(sorted(reported))})")


def check_algorithm(name: str, options: dict | None = None, registry=None, **settings: Any):
    """Deprecated name of :func:`check_method` (one DeprecationWarning)."""
    import warnings

    warnings.warn("dann_core.testing.check_algorithm is renamed check_method", DeprecationWarning, stacklevel=2)
    return check_method(name, options, registry, **settings)


def _require_compile(where: str) -> None:
    """Skip the calling test (pytest.skip) where torch.compile does not work: the run would train eagerly."""
    problem = _compile_problem()
    if problem is not None:
        import pytest

        pytest.skip(f"{where}: torch.compile is unavailable here ({problem})")


@functools.cache
def _compile_problem() -> str | None:
    """None when torch.compile compiles and runs a one-line function on the CPU; else the first line of why not."""
    import torch

    try:
        torch.compile(lambda x: x * 2 + 1)(torch.ones(2))
    except Exception as exc:  # no C++ compiler, an unsupported Python or platform, ...
        return first_line(exc)[:160]
    return None
