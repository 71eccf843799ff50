"""dann: domain-adversarial training (Ganin & Lempitsky 2015; Ganin et al. 2016) for PyTorch."""
from __future__ import annotations

import pluggy

__version__ = "0.1.0"

hookimpl = pluggy.HookimplMarker("dann")
"""Marker for plugin hook implementations: ``from dann_core import hookimpl``."""

__all__ = ["__version__", "hookimpl"]
