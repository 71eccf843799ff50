"""Evaluation as in Ganin et al. (JMLR 2016): proxy A-distance, reverse validation, sweeps, plots, tables.

Public API (imported lazily, so ``import dann_core.eval`` stays cheap):

- :func:`proxy_a_distance` (source, target, C_values=C_VALUES, seed=0, max_samples=None) -> :class:`PADResult`
- :func:`run_pad` (run_dir, checkpoint="best", split="train", max_samples=1000, seed=0, baseline=None, write=True) -> dict
- :func:`extract_features` (model, x) -> (N, features) array of ``model.backbone``
- :func:`reverse_validation` (config, data=None, holdout=0.1, seed=None) -> :class:`ReverseValidationResult`
- :func:`parse_grid`, :func:`validate_grid`, :func:`run_sweep` (base, grid, out=None, select="reverse-validation", ...)
- :func:`plot_run` (run_dir, ...) -> list of PNG paths; :func:`plot_embedding`, :func:`plot_boundaries`, :func:`plot_curves`
- :func:`run_table` (base, seeds, methods, out) -> (rows, [md, csv]); :func:`run_multi_seed` -> summaries;
  :func:`aggregate`, :func:`format_markdown`, :func:`write_table`
"""
from __future__ import annotations

import importlib

_EXPORTS = {
    "proxy_a_distance": "pad",
    "run_pad": "pad",
    "extract_features": "pad",
    "PADResult": "pad",
    "C_VALUES": "pad",
    "reverse_validation": "reverse_validation",
    "ReverseValidationResult": "reverse_validation",
    "parse_grid": "sweep",
    "validate_grid": "sweep",
    "run_sweep": "sweep",
    "write_sweep": "sweep",
    "SweepError": "sweep",
    "plot_run": "plots",
    "plot_embedding": "plots",
    "plot_boundaries": "plots",
    "plot_curves": "plots",
    "run_multi_seed": "tables",
    "run_table": "tables",
    "aggregate": "tables",
    "format_markdown": "tables",
    "write_table": "tables",
    "parse_seeds": "tables",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module 'dann_core.eval' has no attribute '{name}'")
