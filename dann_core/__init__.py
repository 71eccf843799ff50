"""dann: domain-adversarial training (Ganin & Lempitsky 2015; Ganin et al. 2016) for PyTorch."""
from __future__ import annotations

import pluggy

__version__ = "0.1.0"
PLUGIN_API_VERSION = "1.0"
"""The plugin API this dann provides (hooks, factory contexts, Algorithm/Selector/Logger bases).

A plugin module may declare the version it was written for as ``DANN_PLUGIN_API = "1.0"``: a newer
major version than this one is skipped as broken with a one-line error (upgrade dann); minor
versions add to the API without breaking plugins written for an older minor."""

hookimpl = pluggy.HookimplMarker("dann")
"""Marker for plugin hook implementations: ``from dann_core import hookimpl``."""

__all__ = ["PLUGIN_API_VERSION", "__version__", "hookimpl"]
