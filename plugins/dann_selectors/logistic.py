"""DEV's domain classifier: scikit-learn's ``StandardScaler`` + L2 ``LogisticRegression(C)``, in torch on
the features' device, solved to its minimiser.

The problem: features standardised by the mean and population standard deviation of the source +
target rows (1 where a feature is constant), then

    minimise over w, b:   C · Σᵢ log(1 + exp(−sᵢ (x̂ᵢ·w + b))) + ½‖w‖²      (sᵢ = ±1; b unpenalised)

It is strictly convex and smooth, so Newton's method reaches its unique minimiser in a few steps. The
solver is a truncated (inexact) Newton method:

- Each direction solves H·Δ = −g by preconditioned conjugate gradients on exact Hessian-vector products
  (Hv = C·zᵀ(p(1−p) ⊙ zv) + v: two passes over z, O(n·k)) to a relative residual of CG_TOL.
- The preconditioner is the Cholesky factor of a Hessian built once at the start and rebuilt only after
  conjugate gradients stop converging within MAX_CG_STEPS (the weights p(1−p) have moved too far: that
  step keeps CG's partial direction, downhill all the same, and the next step builds a factor at its own
  θ): 2-3 Hessians per fit on DEV's LeNet features, instead of one per Newton step. A Hessian is the one
  O(n·k²) product; as it only preconditions, it is computed in bfloat16 where this device multiplies
  bfloat16 natively (3-4× faster than float32 on an AVX-512-BF16 CPU) and factored in float32, with
  float32/float64 as the fallback when that factor fails.
- The step length is the exact minimum of the objective along Δ (the logits move linearly along a
  direction, so the 1-D search costs O(n)): on nearly separable domains, DEV's usual case, full Newton
  steps only halve the decrement each time while the line minimum lies at 2-4 steps' length.

The Hessian and the conjugate-gradient tolerance decide how fast θ converges, never where to: the
gradient, and so the solution, is exact (float64 sums). benchmarks/bench_dev.py times it against
scikit-learn.

Which coordinates the Newton steps run in depends on the feature width d against the rows n = n_s + n_t:

- d ≤ n (e.g. LeNet's 768 on 2 × 1,000 rows): the primal, k = d + 1 parameters.
- d > n (e.g. LeNet at 224 px: 134k dims): the minimiser lies in the row span of X̂ (the loss sees only
  X̂w and the penalty is rotation invariant), so the same problem is solved exactly in r ≤ n
  coordinates: X̂X̂ᵀ = UΛUᵀ, Z = UΛ^½ (n × r), and w = X̂ᵀUΛ^-½β. Memory is O(n² + n·chunk) beyond the
  inputs: X̂ is never materialised whole (the Gram matrix and w are accumulated over column chunks,
  standardised chunk by chunk), nothing d × d exists, and the source-val logits are (x·(w/σ)) − μ·(w/σ)
  on the raw rows. Eigen-directions below the float32 Gram products' resolution (λ < 1e-7·λ_max) are
  dropped: they are the features' own rounding noise.

Precision: the n × d inputs and every product with them (Hessians, Hv, Z·θ, the Gram chunks) stay
float32 or lower (a float64 copy of 1,000 × 134k features was what made DEV's memory grow with d).
float64 is used only for O(k), O(n) or O(n²) quantities where accuracy is decided: θ and the conjugate-
gradient vectors; the gradient, summed over blocks of 256 rows in float64 (one float32 GEMV over all
rows leaves an error ~√n·eps that stalls Newton short of the optimum); the logits, the line search's
sums and the objective (near the optimum they differ in the 9th digit); the Gram's sum over chunks and
its eigendecomposition. Newton stops when its decrement ½gᵀH⁻¹g (the predicted objective decrease) is
below 1e-13·C·n, or when it stops halving below 1e-8·C·n (float32's floor).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

CHUNK_ELEMENTS = 1 << 24
"""Column chunks of the n × d inputs hold at most this many elements (64 MiB in float32)."""
MAX_NEWTON_STEPS = 50
DECREMENT_TOL = 1e-13
"""Stop when the Newton decrement ½gᵀH⁻¹g falls below this times C·n (excess mean log-loss)."""
NOISE_DECREMENT = 1e-8
"""Below this times C·n a decrement that no longer halves is float32's noise floor: stop."""
GRAM_RESOLUTION = 1e-7
"""Eigenvalues of X̂X̂ᵀ below this times the largest are float32 rounding, not directions of the data."""
CG_TOL = 0.1
"""Conjugate gradients stop when the preconditioned residual is this fraction of the gradient's."""
MAX_CG_STEPS = 10
"""More steps than this mean the preconditioner has gone stale: rebuild it at the current θ."""
LINE_STEPS = 8
GRADIENT_ROWS = 256


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
        mean = torch.empty(d, device=device)
        scale = torch.empty(d, device=device)
        if kernel if kernel is not None else d > n:
            gram = torch.zeros(n, n, dtype=torch.float64, device=device)
            for cols in _chunks(n, d):
                block = torch.cat([source[:, cols], target[:, cols]]).float()
                mean[cols], scale[cols] = _standardise_(block)
                gram += (block @ block.T).double()
            eigenvalues, eigenvectors = torch.linalg.eigh(gram)
            keep = eigenvalues > GRAM_RESOLUTION * eigenvalues[-1].clamp_min(1e-30)
            root = eigenvalues[keep].sqrt()
            z = torch.cat([(eigenvectors[:, keep] * root).float(), torch.ones(n, 1, device=device)], 1)
            theta = newton(z, labels, C)
            alpha = (eigenvectors[:, keep] @ (theta[:-1] / root)).float()  # w = X̂ᵀ U Λ^-½ β
            w = torch.empty(d, dtype=torch.float32, device=device)
            for cols in _chunks(n, d):
                block = torch.cat([source[:, cols], target[:, cols]]).float().sub_(mean[cols]).div_(scale[cols])
                w[cols] = block.T @ alpha
        else:
            z = torch.empty(n, d + 1, dtype=torch.float32, device=device)
            z[:, d] = 1.0
            for cols in _chunks(n, d):
                block = z[:, cols]
                block[:len(source)], block[len(source):] = source[:, cols], target[:, cols]
                mean[cols], scale[cols] = _standardise_(block)
            theta = newton(z, labels, C)
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


def _standardise_(block: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Standardises the columns of a float32 ``block`` in place by their mean and population standard
    deviation (1 where a column is constant: StandardScaler's rule); returns (mean, scale)."""
    mean = block.mean(0)
    # two passes (centre, then the norm): var_mean over dim 0 takes 20× as long on the CPU
    std = torch.linalg.vector_norm(block.sub_(mean), dim=0) / math.sqrt(len(block))
    scale = torch.where(std < 10 * torch.finfo(torch.float32).eps * mean.abs().clamp_min(1), 1.0, std)
    block.div_(scale)
    return mean, scale


def newton(z: torch.Tensor, labels: torch.Tensor, C: float) -> torch.Tensor:
    """argmin over θ of C·Σ logloss(z·θ, labels) + ½‖θ[:-1]‖² (the last column of ``z`` is the intercept's),
    float64, by truncated Newton steps (see the module's docstring)."""
    n, k = z.shape
    y = labels.double()
    penalised = torch.ones(k, dtype=torch.float64, device=z.device)
    penalised[-1] = 0.0
    theta = torch.zeros(k, dtype=torch.float64, device=z.device)
    low = z.to(torch.bfloat16) if _fast_bfloat16(z.device) else None
    preconditioner, previous = None, math.inf
    for _ in range(MAX_NEWTON_STEPS):
        logits = (z @ theta.float()).double()
        p = torch.sigmoid(logits)
        gradient = C * _gradient_sum(z, p - y) + penalised * theta
        weights = C * p * (1 - p)
        if preconditioner is None:
            preconditioner = CholeskyPreconditioner(z, weights, penalised, low)
        direction, converged = conjugate_gradients(z, weights, penalised, gradient, preconditioner, CG_TOL, MAX_CG_STEPS)
        decrement = -float(gradient @ direction) / 2  # = ½ΔᵀHΔ for a conjugate-gradient Δ: ≥ 0
        if not converged:
            # a stale factor: its partial Δ still goes downhill; the next step gets a factor at its own θ
            preconditioner = None
        elif decrement <= DECREMENT_TOL * C * n:
            break
        elif decrement > previous / 2 and decrement <= NOISE_DECREMENT * C * n:
            break
        previous = decrement
        theta = theta + _step_length(logits, (z @ direction.float()).double(), y, theta, direction, penalised, C) * direction
    return theta


def conjugate_gradients(z, weights, penalised, gradient, preconditioner, tol: float,
                        max_steps: int) -> tuple[torch.Tensor, bool]:
    """Δ ≈ −H⁻¹g for H = zᵀ·diag(weights)·z + diag(penalised), by preconditioned conjugate gradients from
    Δ = 0 until the residual's preconditioned norm is ``tol`` times the gradient's. Returns Δ (float64)
    and whether it got there within ``max_steps``; every iterate is a descent direction either way."""
    w = weights.float()
    x = torch.zeros_like(gradient)
    r = -gradient
    s = preconditioner(r)
    rs = float(r @ s)
    goal = tol * tol * rs
    d = s
    for _ in range(max_steps):
        if rs <= goal or rs == 0.0:
            return x, True
        hd = (z.T @ (w * (z @ d.float()))).double() + penalised * d
        curvature = float(d @ hd)
        if not curvature > 0:
            return x, False
        alpha = rs / curvature
        x = x + alpha * d
        r = r - alpha * hd
        s = preconditioner(r)
        rs, previous = float(r @ s), rs
        d = s + (rs / previous) * d
    return x, rs <= goal


class CholeskyPreconditioner:
    """r ↦ H̃⁻¹r for the Hessian H̃ = zᵀ·diag(weights)·z + diag(penalised) at one θ, by its Cholesky factor.

    The product runs in bfloat16 where the device multiplies it natively (:func:`_fast_bfloat16`), else
    in float32, the factor and solves in float32; if that factor fails (rounding can cost H̃ its
    definiteness when H̃ is ill-conditioned), the float32 product is factored in float64.
    """

    def __init__(self, z: torch.Tensor, weights: torch.Tensor, penalised: torch.Tensor,
                 low: torch.Tensor | None = None) -> None:
        """``low``: ``z`` in bfloat16 where the device multiplies bfloat16 natively, else None."""
        factor = None
        for rows in ([low] if low is not None else []) + [z]:
            candidate, info = torch.linalg.cholesky_ex(_hessian(rows, weights, penalised))
            if not info:
                factor = candidate
                break
        if factor is None:
            factor = torch.linalg.cholesky(_hessian(z, weights, penalised).double())
        self.factor = factor

    def __call__(self, r: torch.Tensor) -> torch.Tensor:
        half = torch.linalg.solve_triangular(self.factor, r.to(self.factor.dtype)[:, None], upper=False)
        return torch.linalg.solve_triangular(self.factor.T, half, upper=True)[:, 0].to(r.dtype)


def _hessian(rows, weights, penalised) -> torch.Tensor:
    """rowsᵀ·diag(weights)·rows + diag(penalised), the products in ``rows``' dtype, returned in float32."""
    hessian = ((rows * weights.to(rows.dtype)[:, None]).T @ rows).float()
    hessian.diagonal().add_(penalised.float())
    # the intercept's row is unpenalised: a tiny ridge keeps the factor defined if every p saturates
    hessian.diagonal().add_(1e-6 * hessian.diagonal().abs().max())
    return hessian


def _fast_bfloat16(device: torch.device) -> bool:
    """Whether ``device`` multiplies bfloat16 matrices natively (else bfloat16 GEMMs are emulated, slower
    than float32)."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        supported = getattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", None)  # AVX-512-BF16 / AMX
        try:
            return bool(supported()) if supported is not None else False
        except RuntimeError:
            return False
    return False


def _gradient_sum(z: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
    """zᵀ·residual in float64: float32 products over blocks of rows, the blocks summed in float64 (a
    single float32 GEMV over all n rows leaves an error ~√n·eps that stalls Newton before the optimum)."""
    total = torch.zeros(z.shape[1], dtype=torch.float64, device=z.device)
    residual = residual.float()
    for start in range(0, len(z), GRADIENT_ROWS):
        total += (z[start:start + GRADIENT_ROWS].T @ residual[start:start + GRADIENT_ROWS]).double()
    return total


def _step_length(logits, slope, y, theta, direction, penalised, C: float) -> float:
    """The minimiser over t > 0 of φ(t) = objective(θ + t·Δ), by 1-D Newton from t = 1.

    Along Δ the logits move linearly (logits + t·zΔ), so φ, φ′ and φ″ cost O(n) each, not a pass over
    z. Searching the whole line rather than accepting t ≤ 1 matters on nearly separable domains (DEV's
    usual case): there full Newton steps only halve the decrement each time (the loss is exponential-
    like along the separating direction), while the line minimum lies at t ≈ 2–4.
    """
    # the penalty along the line: ½‖θ + tΔ‖²_P = ½θᵀPθ + t·θᵀPΔ + ½t²·ΔᵀPΔ
    start_penalty = float((penalised * theta * theta).sum()) / 2
    cross = float((penalised * theta * direction).sum())
    curvature = float((penalised * direction * direction).sum())

    def value(t: float) -> float:
        u = logits + t * slope
        return C * float((F.softplus(u) - y * u).sum()) + start_penalty + t * cross + t * t * curvature / 2

    def derivatives(t: float) -> tuple[float, float]:
        p = torch.sigmoid(logits + t * slope)
        first = C * float(((p - y) * slope).sum()) + cross + t * curvature
        second = C * float((p * (1 - p) * slope * slope).sum()) + curvature
        return first, second

    first0 = derivatives(0.0)[0]
    t = 1.0
    for _ in range(LINE_STEPS):
        first, second = derivatives(t)
        if abs(first) <= 1e-3 * abs(first0) or second <= 0:
            break
        t = min(max(t - first / second, t / 4), 4 * t)  # a safeguarded 1-D Newton step
    start = value(0.0)
    while value(t) > start and t > 1e-10:  # φ is convex: halving reaches a decrease unless Δ is noise
        t /= 2
    return t
