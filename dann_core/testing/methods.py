""":func:`check_method`: a method trains and gives the same metrics twice with one seed."""
from __future__ import annotations

from typing import Any

from .core import registry_or_default, require, train_tiny

__all__ = ["check_algorithm", "check_method"]


def check_method(name: str, options: dict | None = None, registry=None, **settings: Any):
    """Train method ``name`` twice with one seed (the metrics must be finite and identical); returns the summary."""
    registry = registry_or_default(registry)
    where = f"method '{name}'"
    first = train_tiny(registry, where, method=name, method_options=dict(options or {}), **settings)
    second = train_tiny(registry, where, method=name, method_options=dict(options or {}), **settings)
    require(first["records"] == second["records"], f"{where} logged different metrics in two runs with one seed; use the run's seeded RNGs only")
    return first["summary"]


def check_algorithm(name: str, options: dict | None = None, registry=None, **settings: Any):
    """Deprecated name of :func:`check_method` (one DeprecationWarning)."""
    import warnings

    warnings.warn("dann_core.testing.check_algorithm is renamed check_method", DeprecationWarning, stacklevel=2)
    return check_method(name, options, registry, **settings)
