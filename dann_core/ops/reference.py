"""Pure-PyTorch reference of every dann op: the fallback, the test oracle and the benchmark baseline.

Each function here has the exact signature and semantics of the compiled op of the same name in
``torch.ops.dann`` (see csrc/dann_ops.cpp). Low-precision inputs are computed in float32 and the
results cast back, which is what the kernels do too.
"""
from __future__ import annotations

import torch

from . import checks

LOW_PRECISION = (torch.float16, torch.bfloat16)


def _compute_dtype(dtype: torch.dtype) -> torch.dtype:
    return torch.float32 if dtype in LOW_PRECISION else dtype


def _times_minus_lambda(t: torch.Tensor, lambd: torch.Tensor) -> torch.Tensor:
    ct = _compute_dtype(t.dtype)
    return (t.to(ct) * -lambd.to(ct)).to(t.dtype)


def grl_backward(grad: torch.Tensor, lambd: torch.Tensor) -> torch.Tensor:
    """grad_in = -λ·grad_out."""
    checks.check_lambda(lambd, grad)
    return _times_minus_lambda(grad, lambd)


def split_reverse_backward(
    grad_label: torch.Tensor | None, grad_domain: torch.Tensor, n_label_rows: int, lambd: torch.Tensor
) -> torch.Tensor:
    """Gradient of features used twice: rows [0, n) feed the label head, all rows the domain head
    through a GRL. Returns ``g_label - λ·g_domain`` on the first n rows and ``-λ·g_domain`` after."""
    checks.check_split(grad_domain, n_label_rows, grad_label)
    checks.check_lambda(lambd, grad_domain)
    ct = _compute_dtype(grad_domain.dtype)
    grad = grad_domain.to(ct) * -lambd.to(ct)
    if grad_label is not None:
        grad[:n_label_rows] += grad_label.to(ct)
    return grad.to(grad_domain.dtype)


def _domain_labels(logits: torch.Tensor, labels: torch.Tensor | None, n_source: int) -> torch.Tensor:
    n = logits.shape[0]
    if labels is None:
        y = torch.ones(n, dtype=torch.float32, device=logits.device)
        y[:n_source] = 0
        return y
    y = labels.reshape(n)
    if bool(((y != 0) & (y != 1)).any()):
        raise ValueError(checks.BINARY_LABELS_MSG)
    return y.to(torch.float32)


def _reduce(per_sample: torch.Tensor, reduction: str) -> torch.Tensor:
    if reduction == "mean":
        return per_sample.mean()
    if reduction == "sum":
        return per_sample.sum()
    return per_sample


def domain_bce(
    logits: torch.Tensor,
    labels: torch.Tensor | None,
    n_source: int,
    weight: torch.Tensor | None,
    reduction: str,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Binary domain cross-entropy from logits.

    ``labels`` is a 0/1 tensor (N or N×1, any dtype), or None meaning rows [0, n_source) are source (0)
    and the rest target (1). ``weight`` (N,) scales each sample's loss; 'mean' divides by N as
    ``F.binary_cross_entropy_with_logits`` does. Returns (loss, d loss / d logits, number of rows whose
    prediction ``logit > 0`` equals the label), the gradient unscaled by any upstream gradient.
    """
    checks.check_domain_bce(logits, labels, n_source, weight, reduction)
    dtype = logits.dtype
    z = logits.reshape(-1).to(_compute_dtype(dtype))
    y = _domain_labels(logits, labels, n_source).to(z.dtype)
    # log(1 + e^z) - y·z in the form that never overflows.
    per_sample = z.clamp_min(0) - y * z + torch.log1p(torch.exp(-z.abs()))
    grad = torch.sigmoid(z) - y
    if weight is not None:
        w = weight.reshape(-1).to(z.dtype)
        per_sample = per_sample * w
        grad = grad * w
    if reduction == "mean":
        grad = grad / z.shape[0]
    correct = ((z > 0).to(z.dtype) == y).sum()
    loss = _reduce(per_sample, reduction)
    return loss.to(dtype), grad.to(dtype).reshape(logits.shape), correct


def domain_ce(
    logits: torch.Tensor,
    labels: torch.Tensor,
    weight: torch.Tensor | None,
    reduction: str,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """K-way domain cross-entropy (multi-source DANN): logits N×K, integer labels in [0, K).

    ``weight`` (N,) is per sample (not per class); 'mean' divides by N. Returns
    (loss, d loss / d logits, number of rows whose argmax equals the label).
    """
    checks.check_domain_ce(logits, labels, weight, reduction)
    n, k = logits.shape
    if bool(((labels < 0) | (labels >= k)).any()):
        raise ValueError(checks.class_labels_msg(k))
    dtype = logits.dtype
    z = logits.to(_compute_dtype(dtype))
    log_p = torch.log_softmax(z, dim=1)
    y = labels.reshape(n).long()
    per_sample = -log_p.gather(1, y[:, None]).squeeze(1)
    grad = log_p.exp()
    grad[torch.arange(n, device=z.device), y] -= 1
    if weight is not None:
        w = weight.reshape(-1).to(z.dtype)
        per_sample = per_sample * w
        grad = grad * w[:, None]
    if reduction == "mean":
        grad = grad / n
    correct = (z.argmax(dim=1) == y).sum()
    return _reduce(per_sample, reduction).to(dtype), grad.to(dtype), correct


def grl_linear_backward(
    grad: torch.Tensor, x: torch.Tensor, weight: torch.Tensor, lambd: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Backward of ``y = GRL(x) @ W.T + b``: grad_x = -λ·(g @ W); grad_W = gᵀ·x; grad_b = Σ g."""
    checks.check_lambda(lambd, x)
    g2 = grad.reshape(-1, grad.shape[-1])
    x2 = x.reshape(-1, x.shape[-1])
    grad_x = _times_minus_lambda(g2 @ weight, lambd).reshape(x.shape)
    return grad_x, g2.t() @ x2, g2.sum(0)
