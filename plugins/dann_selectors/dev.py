"""``dev``: Deep Embedded Validation (You et al., ICML 2019).

1. A domain classifier (logistic regression) learns source-train vs target features of the candidate.
2. Its odds give the density ratio w(x) = p_t(x)/p_s(x) = (n_s/n_t) · P(target|x)/P(source|x) on the
   held-out source validation features.
3. The risk is the importance-weighted validation loss with a control variate:
   mean(w·ℓ) + η·mean(w) − η, with η = −Cov(w·ℓ, w)/Var(w) (the variance-optimal coefficient).
Lower is better. Only source labels are used.

The domain classifier, in torch on the features' device
--------------------------------------------------------
The problem is scikit-learn's ``StandardScaler`` + ``LogisticRegression(C)`` (which DEV used before):
features standardised by the mean and population standard deviation of the source + target rows
(1 where a feature is constant), then

    minimise over w, b:   C · Σᵢ log(1 + exp(−sᵢ (x̂ᵢ·w + b))) + ½‖w‖²      (sᵢ = ±1; b unpenalised)

The objective is strictly convex in w and smooth, so Newton's method reaches its unique minimiser in a
few steps. Each step takes the Newton direction and the exact minimum of the objective along it (the
logits move linearly along a direction, so the 1-D search costs O(n), not a pass over the features;
on nearly separable domains, DEV's usual case, full Newton steps only halve the decrement each time
while the line minimum lies at 2–4 steps' length). A Hessian's Cholesky factor is reused (a chord
step) while the decrement keeps falling fast; a fresh Hessian, the one O(n·k²) cost, is built only
when it stops: 4–5 Hessians and 20–30 cheap steps on DEV's LeNet features (benchmarks/bench_dev.py).
The Hessian only decides how fast θ converges; the gradient, and so the solution, is exact.

Which coordinates the Newton steps run in depends on the feature width d against the rows n = n_s + n_t:

- d ≤ n (e.g. LeNet's 768 on 2 × 1,000 rows): the primal, k = d + 1 parameters; the Hessian's GEMM
  runs over the upper triangle's column blocks only.
- d > n (e.g. LeNet at 224 px: 134k dims): the minimiser lies in the row span of X̂ (the loss sees only
  X̂w and the penalty is rotation invariant), so the same problem is solved exactly in r ≤ n
  coordinates: X̂X̂ᵀ = UΛUᵀ, Z = UΛ^½ (n × r), and w = X̂ᵀUΛ^-½β. Memory is O(n² + n·chunk) beyond the
  inputs: X̂ is never materialised whole (the Gram matrix and w are accumulated over column chunks,
  standardised chunk by chunk), nothing d × d exists, and the source-val logits are (x·(w/σ)) − μ·(w/σ)
  on the raw rows. Eigen-directions below the float32 Gram products' resolution (λ < 1e-7·λ_max) are
  dropped: they are the features' own rounding noise.

Precision: the n × d inputs and every product with them (the Hessian's GEMM, Z·θ, the Gram chunks)
stay float32 (a float64 copy of 1,000 × 134k features was what made DEV's memory grow with d).
float64 is used only for O(k), O(n) or O(n²) quantities where accuracy is decided: θ; the gradient,
summed over blocks of 256 rows in float64 (one float32 GEMV over all rows leaves an error ~√n·eps that
stalls Newton short of the optimum); the Hessian's Cholesky solve (its condition number reaches
C·n·λ_max); the logits, the line search's sums and the objective (near the optimum they differ in the
9th digit); the Gram's sum over chunks and its eigendecomposition; the density ratios (exp of logits)
and the risk (a covariance). Newton stops when its decrement ½gᵀH⁻¹g (the predicted objective
decrease) is below 1e-13·C·n, or when a fresh Newton step stops converging below 1e-8·C·n (float32's
floor).

Agreement with scikit-learn (tests/test_dev_selector.py): against scikit-learn fitted to convergence
(tol 1e-10) on seeded feature sets, primal and row-span, the log density ratios agree within 1e-3
(measured ≤ 3e-5; ≤ 1e-4 on LeNet features of digits-blend) and the DEV risk within 1e-4 relative.
Against DEV's former default fit (lbfgs, tol 1e-4) the gap is that fit's own: on nearly separable
LeNet features it stops ~80 iterations in, with log ratios up to ~1.4 away from the minimiser, so DEV
scores (and occasionally DEV's chosen checkpoint) move towards the exact classifier's.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from dann_core.selection import Candidate, Selector

CHUNK_ELEMENTS = 1 << 24
"""Column chunks of the n × d inputs hold at most this many elements (64 MiB in float32)."""
MAX_NEWTON_STEPS = 50
DECREMENT_TOL = 1e-13
"""Stop when the Newton decrement ½gᵀH⁻¹g falls below this times C·n (excess mean log-loss)."""
GRAM_RESOLUTION = 1e-7
"""Eigenvalues of X̂X̂ᵀ below this times the largest are float32 rounding, not directions of the data."""
P_CLIP = 1e-6
LINE_STEPS = 8
CHORD_RATE = 0.5
NOISE_DECREMENT = 1e-8
GRADIENT_ROWS = 256
HESSIAN_BLOCK = 256


def dev_risk(losses, weights) -> float:
    """The control-variate estimate of the target risk from per-sample source losses and density ratios."""
    weights = torch.as_tensor(weights, dtype=torch.float64)
    losses = torch.as_tensor(losses, dtype=torch.float64).to(weights.device)
    weighted = weights * losses
    eta = 0.0
    if len(weights) > 1:
        variance = weights.var(correction=1)
        if variance > 0:
            eta = -torch.cov(torch.stack([weighted, weights]))[0, 1] / variance
    return float(weighted.mean() + eta * weights.mean() - eta)


def density_ratios(source_train, target, source_val, C: float) -> torch.Tensor:
    """w(x) = (n_s/n_t)·P(target|x)/P(source|x) on ``source_val`` (float64, on the features' device),
    from the L2 logistic domain classifier fitted on standardised source-train vs target features.

    Inputs: ``n × d`` tensors (or arrays) on one device; any float dtype (computed in float32).
    """
    source_train, target, source_val = (torch.as_tensor(x) for x in (source_train, target, source_val))
    classifier = DomainClassifier.fit(source_train, target, C)
    p_target = torch.sigmoid(classifier.logits(source_val)).clamp(P_CLIP, 1 - P_CLIP)
    return (len(source_train) / len(target)) * p_target / (1 - p_target)


class DomainClassifier:
    """A fitted standardise-then-logistic-regression classifier: logit(x) = (x − μ)/σ · w + b."""

    def __init__(self, mean: torch.Tensor, scale: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> None:
        self.mean, self.scale, self.w, self.b = mean, scale, w, b

    @classmethod
    def fit(cls, source: torch.Tensor, target: torch.Tensor, C: float, kernel: bool | None = None) -> "DomainClassifier":
        """Fits on ``source`` (label 0) vs ``target`` (label 1). ``kernel``: solve in the rows' span
        (default: when d > n; forcing either way gives the same solution, which the tests check)."""
        n, d = len(source) + len(target), source.shape[1]
        device = source.device
        labels = torch.cat([torch.zeros(len(source), device=device), torch.ones(len(target), device=device)])
        mean, scale = _moments(source, target)
        if kernel if kernel is not None else d > n:
            gram = torch.zeros(n, n, dtype=torch.float64, device=device)
            for cols in _chunks(n, d):
                block = _standardised(source, target, mean, scale, cols)
                gram += (block @ block.T).double()
            eigenvalues, eigenvectors = torch.linalg.eigh(gram)
            keep = eigenvalues > GRAM_RESOLUTION * eigenvalues[-1].clamp_min(1e-30)
            root = eigenvalues[keep].sqrt()
            z = torch.cat([(eigenvectors[:, keep] * root).float(), torch.ones(n, 1, device=device)], 1)
            theta = _newton(z, labels, C)
            alpha = (eigenvectors[:, keep] @ (theta[:-1] / root)).float()  # w = X̂ᵀ U Λ^-½ β
            w = torch.empty(d, dtype=torch.float32, device=device)
            for cols in _chunks(n, d):
                w[cols] = _standardised(source, target, mean, scale, cols).T @ alpha
        else:
            z = torch.empty(n, d + 1, dtype=torch.float32, device=device)
            z[:, d] = 1.0
            for cols in _chunks(n, d):
                z[:, cols] = _standardised(source, target, mean, scale, cols)
            theta = _newton(z, labels, C)
            w = theta[:-1].float()
        return cls(mean, scale, w, theta[-1])

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """Decision values of the rows of ``x`` (float64), computed without standardising a copy of ``x``."""
        v = self.w / self.scale
        out = torch.zeros(len(x), dtype=torch.float64, device=x.device)
        for cols in _chunks(len(x), x.shape[1]):
            out += (x[:, cols].float() @ v[cols]).double()
        return out + (self.b - (self.mean.double() @ v.double()))


def _chunks(rows: int, d: int):
    width = max(1, CHUNK_ELEMENTS // max(rows, 1))
    return [slice(start, min(start + width, d)) for start in range(0, d, width)]


def _moments(source: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-feature mean and population std of the source + target rows (std 1 where constant), float32."""
    n, d = len(source) + len(target), source.shape[1]
    mean = torch.empty(d, device=source.device)
    scale = torch.empty(d, device=source.device)
    for cols in _chunks(n, d):
        block = torch.cat([source[:, cols], target[:, cols]]).float()
        var, mean[cols] = torch.var_mean(block, dim=0, correction=0)
        std = var.sqrt()
        # StandardScaler's rule: a (numerically) constant feature is centred, not scaled
        scale[cols] = torch.where(std < 10 * torch.finfo(torch.float32).eps * mean[cols].abs().clamp_min(1), 1.0, std)
    return mean, scale


def _standardised(source, target, mean, scale, cols: slice) -> torch.Tensor:
    return (torch.cat([source[:, cols], target[:, cols]]).float() - mean[cols]) / scale[cols]


def _newton(z: torch.Tensor, labels: torch.Tensor, C: float) -> torch.Tensor:
    """argmin over θ of C·Σ logloss(z·θ, labels) + ½‖θ[:-1]‖² (the last column of ``z`` is the intercept's).

    Newton directions with an exact line search (:func:`_step_length`). A Hessian's Cholesky factor is
    reused (a chord step) while the decrement it gives keeps shrinking fast (below CHORD_RATE of the
    last one); only then is a fresh Hessian built, the one O(n·k²) cost of a step. The Hessian decides
    how fast θ converges, never where to: the gradient, and so the solution, is exact.
    """
    n, k = z.shape
    y = labels.double()
    penalised = torch.ones(k, dtype=torch.float64, device=z.device)
    penalised[-1] = 0.0
    theta = torch.zeros(k, dtype=torch.float64, device=z.device)
    factor, previous = None, math.inf
    for _ in range(MAX_NEWTON_STEPS):
        logits = (z @ theta.float()).double()
        p = torch.sigmoid(logits)
        gradient = C * _gradient_sum(z, p - y) + penalised * theta
        fresh = factor is None
        if not fresh:
            direction = -torch.cholesky_solve(gradient[:, None], factor)[:, 0]
            decrement = -float(gradient @ direction) / 2
            if decrement <= DECREMENT_TOL * C * n:
                break
            fresh = decrement > CHORD_RATE * previous
        if fresh:
            factor = torch.linalg.cholesky(_hessian(z, C * p * (1 - p), penalised))
            direction = -torch.cholesky_solve(gradient[:, None], factor)[:, 0]
            decrement = -float(gradient @ direction) / 2
        if decrement <= DECREMENT_TOL * C * n:
            break
        if fresh and decrement > previous / 2 and decrement <= NOISE_DECREMENT * C * n:
            break  # a fresh Newton step that no longer converges: the float32 products' noise floor
        previous = decrement
        theta = theta + _step_length(logits, (z @ direction.float()).double(), y, theta, direction, penalised, C) * direction
    return theta


def _gradient_sum(z: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
    """zᵀ·residual in float64: float32 products over blocks of rows, the blocks summed in float64 (a
    single float32 GEMV over all n rows leaves an error ~√n·eps that stalls Newton before the optimum)."""
    total = torch.zeros(z.shape[1], dtype=torch.float64, device=z.device)
    residual = residual.float()
    for start in range(0, len(z), GRADIENT_ROWS):
        total += (z[start:start + GRADIENT_ROWS].T @ residual[start:start + GRADIENT_ROWS]).double()
    return total


def _hessian(z: torch.Tensor, weights: torch.Tensor, penalised: torch.Tensor) -> torch.Tensor:
    """zᵀ·diag(weights)·z + diag(penalised), float64; float32 GEMMs over the upper triangle's column
    blocks only (about 60% of the full product's work), mirrored."""
    k = z.shape[1]
    weighted = z * weights.float()[:, None]
    hessian = torch.zeros(k, k, dtype=torch.float64, device=z.device)
    for start in range(0, k, HESSIAN_BLOCK):
        block = slice(start, start + HESSIAN_BLOCK)
        hessian[block, start:] = (weighted[:, block].T @ z[:, start:]).double()
    hessian = hessian.triu() + hessian.triu(1).T
    hessian.diagonal().add_(penalised)
    # the intercept's row is unpenalised: a tiny ridge keeps the factor defined if every p saturates
    hessian.diagonal().add_(1e-12 * hessian.diagonal().abs().max())
    return hessian


def _step_length(logits, slope, y, theta, direction, penalised, C: float) -> float:
    """The minimiser over t > 0 of φ(t) = objective(θ + t·Δ), by 1-D Newton from t = 1.

    Along Δ the logits move linearly (logits + t·zΔ), so φ, φ′ and φ″ cost O(n) each, not a pass over
    z. Searching the whole line rather than accepting t ≤ 1 matters on nearly separable domains (DEV's
    usual case): there full Newton steps only halve the decrement each time (the loss is exponential-
    like along the separating direction), while the line minimum lies at t ≈ 2–4.
    """
    def phi(t: float) -> tuple[float, float, float]:
        u = logits + t * slope
        p = torch.sigmoid(u)
        shifted = theta + t * direction
        value = C * float((F.softplus(u) - y * u).sum()) + 0.5 * float((penalised * shifted * shifted).sum())
        first = C * float(((p - y) * slope).sum()) + float((penalised * shifted * direction).sum())
        second = C * float((p * (1 - p) * slope * slope).sum()) + float((penalised * direction * direction).sum())
        return value, first, second

    start, first0, _ = phi(0.0)
    t = 1.0
    for _ in range(LINE_STEPS):
        value, first, second = phi(t)
        if abs(first) <= 1e-3 * abs(first0) or second <= 0:
            break
        t = min(max(t - first / second, t / 4), 4 * t)  # a safeguarded 1-D Newton step
    while phi(t)[0] > start and t > 1e-10:  # φ is convex: halving reaches a decrease unless Δ is noise
        t /= 2
    return t


class DEV(Selector):
    """Deep Embedded Validation: importance-weighted source-val loss with a control variate; lower is better.

    Options:
      max_samples: rows per domain for the domain classifier, and of source validation (fixed seeded subsets).
      C: inverse L2 strength of the logistic domain classifier.
    """

    higher_is_better = False

    def __init__(self, max_samples: int = 1000, C: float = 1.0) -> None:
        if max_samples < 2:
            raise ValueError(f"dev selector: max_samples must be ≥ 2, got {max_samples}")
        if not C > 0:
            raise ValueError(f"dev selector: C must be > 0, got {C}")
        self.max_samples, self.C = max_samples, C

    def score(self, candidate: Candidate) -> float | None:
        data = candidate.data
        if data.source_val.y is None or len(data.source_val) < 2:
            return None
        source = candidate.features(data.subsample(data.source_train.x, self.max_samples))
        target = candidate.features(data.subsample(data.target_x, self.max_samples))
        val = data.subsample_split(data.source_val, self.max_samples)  # bounded: memory does not grow with the data
        losses = F.cross_entropy(candidate.logits(val.x), val.y, reduction="none")
        weights = density_ratios(source, target, candidate.features(val.x), self.C)
        return dev_risk(losses, weights)
