"""``iw``: importance-weighted source validation (Sugiyama, Krauledat & Müller, "Covariate Shift
Adaptation by Importance Weighted Cross Validation", JMLR 2007), as skada's
``ImportanceWeightedScorer`` computes it (the best label-free selector of SKADA-Bench's deep methods).

Two Gaussian kernel density estimates on the flattened *inputs* (not features), one of the source-val
rows and one of the target view's rows, with bandwidth h (skada's default KernelDensity: h = 1):

    log p̂_D(x) = logsumexp_j(−‖x − x_j‖² / 2h²) − log n_D + const        (D = source, target)
    wᵢ ∝ exp(log p̂_T(xᵢ) − log p̂_S(xᵢ)) on the source-val rows xᵢ, Σ wᵢ = 1
    IW = Σᵢ wᵢ · 1[argmax f(xᵢ) = yᵢ]                                    (higher is better)

The weights depend on the data only, not on the candidate: they are computed once per run, and the
score reads the ``source_val`` view's logits only, so every evaluated step is scored from the stored
views. dann computes the weights in log space (a softmax over i). skada exponentiates in float64 and,
when every weight underflows to 0 — on images, whose squared distances are in the thousands — falls
back to uniform weights, i.e. plain source-val accuracy (with a warning); ``bandwidth=median`` (the
median source-to-target distance) keeps the weights spread on such inputs.
"""
from __future__ import annotations

import math

import torch

from dann_core.rows import batches, eval_batch, is_lazy
from dann_core.selection import Candidate, SelectionData, Selector

BLOCK = 512


def flat_rows(x) -> torch.Tensor:
    """Rows of ``x`` flattened to float32 vectors (a LazyRows is read through its evaluation transform)."""
    if is_lazy(x):
        return torch.cat([b.reshape(len(b), -1).float() for b in batches(x, eval_batch("cpu", x), "cpu")])
    return x.reshape(len(x), -1).float()


def log_kernel_sums(queries: torch.Tensor, points: torch.Tensor, bandwidth: float) -> torch.Tensor:
    """logsumexp_j(−‖qᵢ − p_j‖² / 2h²) for each query row (float64), in blocks of rows."""
    out = []
    for start in range(0, len(queries), BLOCK):
        d2 = torch.cdist(queries[start:start + BLOCK].double(), points.double()).square()
        out.append(torch.logsumexp(-d2 / (2 * bandwidth ** 2), dim=1))
    return torch.cat(out)


def median_distance(source: torch.Tensor, target: torch.Tensor) -> float:
    """The median distance between source and target rows (at most 1,000 × 1,000 of them)."""
    distances = torch.cdist(source[:1000].double(), target[:1000].double())
    return float(distances.median()) or 1.0


def importance_weights(source: torch.Tensor, target: torch.Tensor, bandwidth: float | str = 1.0) -> torch.Tensor:
    """KDE density ratios p̂_T/p̂_S at the ``source`` rows, normalised to sum to 1 (float64)."""
    h = median_distance(source, target) if bandwidth == "median" else float(bandwidth)
    log_ratio = (log_kernel_sums(source, target, h) - math.log(len(target))) - (log_kernel_sums(source, source, h) - math.log(len(source)))
    return log_ratio.softmax(dim=0)


def run_weights(data: SelectionData, bandwidth: float | str = 1.0) -> torch.Tensor:
    """The weights of the source-val view against the target view (once per run: they do not depend
    on the candidate)."""
    return data.cached(("iw", str(bandwidth)), lambda: importance_weights(
        flat_rows(data.view("source_val")), flat_rows(data.view("target")), bandwidth))


def _bandwidth(value) -> float | str:
    if str(value).strip().lower() == "median":
        return "median"
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    if not (math.isfinite(number) and number > 0):
        raise ValueError(f"iw selector: bandwidth must be a number > 0 or 'median', got {value!r}")
    return number


class IW(Selector):
    """Source-val accuracy weighted by input-space KDE density ratios (skada's scorer); higher is better.

    Options:
      bandwidth: the Gaussian kernels' bandwidth h (skada's default 1.0), or "median" (the median
        source-to-target distance).
    """

    def __init__(self, bandwidth: str = "1.0") -> None:
        self.bandwidth = _bandwidth(bandwidth)

    def score(self, candidate: Candidate) -> float | None:
        val = candidate.data.source_val
        if val.y is None or len(val) == 0 or len(candidate.data.view("target")) == 0:
            return None
        correct = (candidate.view_logits("source_val").argmax(dim=1) == val.y).double()
        return float((run_weights(candidate.data, self.bandwidth) * correct).sum())
