"""dann: domain-adversarial training (Ganin & Lempitsky 2015; Ganin et al. 2016) for PyTorch."""
from __future__ import annotations

__version__ = "0.1.0"
"""The one place the version is written: pyproject.toml reads it from here (``dynamic = ["version"]``)."""

PLUGIN_API_VERSION = "1.1"
"""The plugin API this dann provides (hooks, factory contexts, Method/Selector/Logger bases).

A plugin module may declare the version it was written for as ``DANN_PLUGIN_API = "1.0"``: a newer
major version than this one is skipped as broken with a one-line error (upgrade dann); minor
versions add to the API without breaking plugins written for an older minor (1.1: ``register_methods``,
``Method`` and ``MethodContext``, the names of 1.0's ``register_algorithms``, ``Algorithm`` and
``AlgorithmContext``, which still work and warn once)."""


def __getattr__(name: str):
    # ``hookimpl`` is made on first use, so that ``dann``'s entry point starts without importing
    # pluggy (and importlib.metadata's email parsers) before it can handle Ctrl-C.
    if name == "hookimpl":
        import pluggy

        marker = pluggy.HookimplMarker("dann")
        globals()["hookimpl"] = marker
        return marker
    raise AttributeError(f"module 'dann_core' has no attribute {name!r}")


__all__ = ["PLUGIN_API_VERSION", "__version__", "hookimpl"]
