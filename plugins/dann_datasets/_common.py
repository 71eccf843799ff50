"""Helpers shared by the built-in datasets: seeded generators, splits, per-channel standardisation."""
from __future__ import annotations

import numpy as np
import torch

from dann_core.specs import DomainData, Split

STANDARDIZE_MODES = ("source", "domain", "none")
"""``source``: every split uses source_train's per-channel mean/std; ``domain``: source splits use
source_train's and target splits target_train's (target inputs, never target labels); ``none``."""


def generator(seed: int, stream: int) -> np.random.Generator:
    """An independent, reproducible numpy generator for one use (``stream``) of a dataset seed."""
    return np.random.default_rng([int(seed), int(stream)])


def permutation_split(n: int, fraction: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Disjoint (kept, held-out) index arrays; ``round(n * fraction)`` rows held out, at least one each."""
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"held-out fraction must be in (0, 1), got {fraction}")
    order = rng.permutation(n)
    n_out = min(max(1, round(n * fraction)), n - 1)
    return np.sort(order[n_out:]), np.sort(order[:n_out])


def split(x, y=None) -> Split:
    """A :class:`Split` of float32 inputs and int64 labels (or None) from arrays or tensors."""
    x = torch.as_tensor(np.asarray(x), dtype=torch.float32)
    y = None if y is None else torch.as_tensor(np.asarray(y), dtype=torch.int64)
    return Split(x.contiguous(), y)


def standardize(data: DomainData, mode: str) -> DomainData:
    """Standardise each channel (dim 1) of every split in place, as ``mode`` says (see STANDARDIZE_MODES)."""
    if mode not in STANDARDIZE_MODES:
        raise ValueError(f"standardize must be one of {', '.join(STANDARDIZE_MODES)}, got '{mode}'")
    if mode == "none":
        return data
    source_stats = _channel_stats(data.source_train.x)
    target_stats = _channel_stats(data.target_train.x) if mode == "domain" else source_stats
    for part, stats in (
        (data.source_train, source_stats),
        (data.source_val, source_stats),
        (data.target_train, target_stats),
        (data.target_test, target_stats),
    ):
        mean, std = stats
        part.x = (part.x - mean) / std
    return data


def _channel_stats(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    dims = [d for d in range(x.dim()) if d != 1]
    shape = [1] * x.dim()
    shape[1] = x.shape[1]
    mean = x.mean(dim=dims).reshape(shape)
    std = x.std(dim=dims).clamp_min(1e-6).reshape(shape)
    return mean, std
