"""k-means from given centres and the adjusted mutual information of two labelings, in torch (float64).

``kmeans`` is Lloyd's algorithm from the given initial centres (deterministic: no random restart),
until no assignment changes; a centre that loses every point stays where it is.
``adjusted_mutual_info`` is scikit-learn's ``adjusted_mutual_info_score`` (arithmetic mean of the
entropies as the normaliser; the expected mutual information under the hypergeometric model of
random labelings with the same cluster sizes, Vinh, Epps & Bailey, JMLR 2010). Both are checked
against scikit-learn in tests/builtins/test_selectors_formulas.py.
"""
from __future__ import annotations

import torch

MAX_ITERATIONS = 300


def kmeans(points: torch.Tensor, centres: torch.Tensor, max_iterations: int = MAX_ITERATIONS) -> torch.Tensor:
    """Cluster of each row of ``points`` after Lloyd iterations from ``centres`` (K × d). Distances are
    expanded, ‖x‖² − 2x·c + ‖c‖² (as scikit-learn's Lloyd computes them); ‖x‖² is the same for every
    centre, so the argmin leaves it out: one GEMM per iteration, the centres summed by index."""
    points, centres = points.double(), centres.double().clone()
    k = len(centres)
    assignment = None
    for _ in range(max_iterations):
        new = ((centres * centres).sum(dim=1) - 2 * points @ centres.T).argmin(dim=1)
        if assignment is not None and torch.equal(new, assignment):
            break
        assignment = new
        counts = torch.bincount(assignment, minlength=k)
        sums = torch.zeros_like(centres).index_add_(0, assignment, points)
        filled = counts > 0
        centres[filled] = sums[filled] / counts[filled, None].double()
    return assignment


def label_centres(points: torch.Tensor, labels: torch.Tensor, k: int) -> torch.Tensor:
    """Mean of the rows of each label 0..k−1 (zeros for a label no row has)."""
    points = points.double()
    counts = torch.bincount(labels, minlength=k).double()
    sums = torch.zeros(k, points.shape[1], dtype=torch.float64).index_add_(0, labels, points)
    return sums / counts.clamp_min(1)[:, None]


def _entropy(counts: torch.Tensor) -> float:
    p = counts[counts > 0].double() / counts.sum()
    return float(-(p * p.log()).sum())


def adjusted_mutual_info(labels_a: torch.Tensor, labels_b: torch.Tensor) -> float:
    """AMI(a, b) = (MI − E[MI]) / (½(H(a) + H(b)) − E[MI]); 1.0 when both labelings have one class."""
    _, a = torch.unique(labels_a, return_inverse=True)
    _, b = torch.unique(labels_b, return_inverse=True)
    n = len(a)
    ka, kb = int(a.max()) + 1, int(b.max()) + 1
    if (ka == kb == 1) or n == 0:
        return 1.0
    table = torch.zeros(ka, kb, dtype=torch.float64).index_put_((a, b), torch.ones(n, dtype=torch.float64), accumulate=True)
    rows, cols = table.sum(1), table.sum(0)
    nz = table > 0
    outer = rows[:, None] * cols[None, :]
    mi = float((table[nz] / n * (n * table[nz] / outer[nz]).log()).sum())
    emi = expected_mutual_info(rows, cols, n)
    normaliser = (_entropy(rows) + _entropy(cols)) / 2
    denominator = normaliser - emi
    eps = torch.finfo(torch.float64).eps
    denominator = min(denominator, -eps) if denominator < 0 else max(denominator, eps)
    return (mi - emi) / denominator


def expected_mutual_info(rows: torch.Tensor, cols: torch.Tensor, n: int) -> float:
    """E[MI] of two random labelings with cluster sizes ``rows`` and ``cols`` (hypergeometric model)."""
    a, b = rows.double()[:, None], cols.double()[None, :]
    low = (a + b - n).clamp_min(1)
    high = torch.minimum(a, b)
    span = int((high - low).max()) + 1 if bool((high >= low).any()) else 0
    if span <= 0:
        return 0.0
    nij = low[..., None] + torch.arange(span, dtype=torch.float64)  # ka × kb × span
    valid = nij <= high[..., None]
    nij = torch.where(valid, nij, torch.ones_like(nij))
    a3, b3 = a[..., None].expand_as(nij), b[..., None].expand_as(nij)
    # log m! for every count m in 0..n, looked up instead of nine lgamma calls over the ka × kb × span grid
    log_factorial = torch.lgamma(torch.arange(n + 2, dtype=torch.float64) + 1)

    def lf(m: torch.Tensor) -> torch.Tensor:
        return log_factorial[m.long()]

    log_p = (lf(a3) + lf(b3) + lf(n - a3) + lf(n - b3) - log_factorial[n]
             - lf(nij) - lf(a3 - nij) - lf(b3 - nij) - lf((n - a3 - b3 + nij).clamp_min(0)))
    term = nij / n * (n * nij / (a3 * b3)).log() * log_p.exp()
    return float(torch.where(valid, term, torch.zeros_like(term)).sum())
