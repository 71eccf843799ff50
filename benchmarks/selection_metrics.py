"""What the selection benchmark measures of a selector's choices (``benchmarks.selection_table``).

- ``weighted_spearman``: Musgrave, Belongie & Lim (2022)'s weighted Spearman correlation between a
  selector's scores (oriented so that higher is better) and target accuracies: each point weighted by
  max(score rank, accuracy rank)^2 (dense ranks over their maximum), then the weighted Pearson
  correlation of the weighted ranks (the ``WeightedCorr`` package's "spearman", which they used). It
  rewards ranking the best checkpoints right, where a selection is decided.
- ``choose_run``: the choice among runs (two stages, as ``dann sweep``/``dann table`` choose): each run
  contributes the checkpoint the selector chose within it; a per-candidate selector then compares
  those checkpoints' scores, a set-level one scores them as one set.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np
from scipy.stats import rankdata


def _weighted_ranks(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Weighted ranks: tied values share the mean of the weighted positions they span."""
    _, inverse, counts = np.unique(rankdata(x), return_inverse=True, return_counts=True)
    mass = np.bincount(inverse, w)
    return (np.cumsum(mass) - mass)[inverse] + ((counts + 1) / 2 * (mass / counts))[inverse]


def _weighted_pearson(x: np.ndarray, y: np.ndarray, w: np.ndarray) -> float:
    mx, my = np.sum(w * x) / np.sum(w), np.sum(w * y) / np.sum(w)
    denominator = math.sqrt(np.sum(w * (x - mx) ** 2) * np.sum(w * (y - my) ** 2))
    return float(np.sum(w * (x - mx) * (y - my)) / denominator) if denominator > 0 else math.nan


def weighted_spearman(scores: Sequence[float], accuracies: Sequence[float], power: float = 2.0) -> float:
    """Musgrave et al.'s weighted Spearman correlation (NaN with fewer than 3 points or a constant side).
    ``scores`` must be oriented higher-is-better; a missing score (None/NaN) counts as the lowest."""
    s = np.array([-math.inf if v is None else float(v) for v in scores], dtype=float)
    a = np.asarray(accuracies, dtype=float)
    if len(s) < 3 or not np.isfinite(s).any():
        return math.nan
    s[~np.isfinite(s)] = np.min(s[np.isfinite(s)])
    if np.ptp(s) == 0 or np.ptp(a) == 0:
        return math.nan
    score_ranks = rankdata(s, method="dense") / rankdata(s, method="dense").max()
    accuracy_ranks = rankdata(a, method="dense") / rankdata(a, method="dense").max()
    w = np.maximum(score_ranks, accuracy_ranks) ** power
    return _weighted_pearson(_weighted_ranks(s, w), _weighted_ranks(a, w), w)


def oriented(selector, score: float | None) -> float | None:
    """``score`` with higher meaning better."""
    if score is None or (isinstance(score, float) and math.isnan(score)):
        return None
    return score if selector.higher_is_better else -score


def best_index(selector, scores: Sequence[float | None]) -> int | None:
    """Index of the best score (ties: the first; None scores lose)."""
    best, chosen = None, None
    for index, score in enumerate(scores):
        value = oriented(selector, score)
        if value is not None and (best is None or value > best):
            best, chosen = value, index
    return chosen


def choose_run(selector, chosen: list[tuple[int, float | None]], candidates=None) -> int | None:
    """Index of the run chosen among runs whose within-run choice is ``chosen[i] = (step, score)``.

    A set-level selector scores the chosen checkpoints as one set (``candidates``: their Candidate
    objects on the same data); a per-candidate one compares their scores. Ties: the first run.
    """
    if selector.set_level:
        if not candidates:
            return None
        return best_index(selector, selector.score_all(candidates))
    return best_index(selector, [score for _, score in chosen])


def mean(values) -> float | None:
    values = [v for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    return round(float(np.mean(values)), 4) if values else None
