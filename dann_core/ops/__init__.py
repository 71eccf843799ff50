"""DANN's core ops: gradient reversal, fused reverse-and-merge, fused domain losses, GRL-folded linear.

Each op runs the compiled kernel from ``dann_core._C`` (``torch.ops.dann.*``) when it is built and has
a kernel for the tensor's device, else the pure-PyTorch reference in :mod:`dann_core.ops.reference`.
``DANN_KERNELS=auto|ext|reference`` picks: ``auto`` falls back quietly (one warning), ``ext`` raises
when the kernel is missing, ``reference`` never uses compiled code. The CPU kernels run at the best
SIMD tier the CPU has (:func:`cpu_capability`); ``DANN_CPU_CAPABILITY=default|avx2|avx512|avx512_bf16``
or :func:`set_cpu_capability` lowers it. Importing this module compiles nothing.

λ is always a 0-dim tensor, so changing it neither recompiles a ``torch.compile`` graph nor syncs a GPU.
"""
from __future__ import annotations

import functools
from typing import NamedTuple

import torch

from . import checks, reference
from .dispatch import (
    backend,
    build_info,
    cpu_capabilities,
    cpu_capability,
    impl,
    set_cpu_capability,
    using_cpu_capability,
)


class DomainLoss(NamedTuple):
    """A domain loss and the number of rows the domain classifier got right (a 0-dim int64 tensor)."""

    loss: torch.Tensor
    n_correct: torch.Tensor


# DomainLoss((loss, n_correct)) without the Python frame of the generated __new__ (a loss call's
# overhead at batch sizes is mostly such frames).
_domain_loss = functools.partial(tuple.__new__, DomainLoss)


class _GradReverse(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, lambd):
        ctx.save_for_backward(lambd)
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad):
        (lambd,) = ctx.saved_tensors
        return impl("grl_backward", grad)(grad, lambd), None


class _SplitReverse(torch.autograd.Function):
    @staticmethod
    def forward(ctx, features, n_label_rows, lambd):
        ctx.save_for_backward(lambd)
        ctx.n_label_rows = n_label_rows
        return features[:n_label_rows], features.view_as(features)

    @staticmethod
    def backward(ctx, grad_label, grad_domain):
        (lambd,) = ctx.saved_tensors
        fn = impl("split_reverse_backward", grad_domain)
        return fn(grad_label, grad_domain, ctx.n_label_rows, lambd), None, None


class _GrlLinear(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias, lambd):
        ctx.save_for_backward(x, weight, lambd)
        ctx.has_bias = bias is not None
        return torch.nn.functional.linear(x, weight, bias)

    @staticmethod
    def backward(ctx, grad):
        x, weight, lambd = ctx.saved_tensors
        grad_x, grad_w, grad_b = impl("grl_linear_backward", grad)(grad.contiguous(), x, weight, lambd)
        return grad_x, grad_w, grad_b if ctx.has_bias else None, None


class _ReferenceLoss(torch.autograd.Function):
    """Autograd for the reference losses: they return their own gradient, backward only scales it."""

    @staticmethod
    def forward(ctx, name, logits, *args):
        loss, grad, correct = getattr(reference, name)(logits, *args)
        ctx.save_for_backward(grad)
        ctx.n_args = len(args)
        ctx.mark_non_differentiable(correct)
        return loss, correct

    @staticmethod
    def backward(ctx, grad_loss, _grad_correct):
        (grad,) = ctx.saved_tensors
        return (None, scale_saved_grad(grad, grad_loss)) + (None,) * ctx.n_args


def scale_saved_grad(grad: torch.Tensor, grad_loss: torch.Tensor) -> torch.Tensor:
    """The chain rule for a loss that saved d loss / d logits: a scalar or per-row upstream gradient."""
    if grad_loss.dim() == 1:  # reduction='none': one upstream value per row
        grad_loss = grad_loss.reshape(-1, *([1] * (grad.dim() - 1)))
    return grad * grad_loss


def grad_reverse(x: torch.Tensor, lambd: torch.Tensor) -> torch.Tensor:
    """Gradient reversal: returns ``x`` (a view, no copy); backward multiplies the gradient by -λ."""
    checks.check_lambda(lambd, x)
    return _GradReverse.apply(x, lambd)


def split_reverse(features: torch.Tensor, n_label_rows: int, lambd: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Features for the label head (the first ``n_label_rows`` rows) and, through a GRL, for the domain
    head (all rows). The single backward writes ``g_label − λ·g_domain`` into the first rows and
    ``−λ·g_domain`` into the rest in one pass, instead of autograd's neg, mul and add."""
    checks.check_features(features, n_label_rows)
    checks.check_lambda(lambd, features)
    return _SplitReverse.apply(features, n_label_rows, lambd)


def grl_linear(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, lambd: torch.Tensor
) -> torch.Tensor:
    """``linear(GRL(x), weight, bias)`` with the reversal folded into the input-gradient GEMM."""
    checks.check_lambda(lambd, x)
    return _GrlLinear.apply(x, weight, bias, lambd)


def _call_loss(name: str, logits: torch.Tensor, *args) -> DomainLoss:
    # Both backends validate their inputs with the same messages (checks.py, csrc/checks.h).
    fn = impl(name, logits)
    if fn is getattr(reference, name):
        return DomainLoss(*_ReferenceLoss.apply(name, logits, *args))
    loss, _grad, correct = fn(logits, *args)
    return _domain_loss((loss, correct))


def domain_bce(
    logits: torch.Tensor,
    labels: torch.Tensor | int,
    weight: torch.Tensor | None = None,
    reduction: str = "mean",
) -> DomainLoss:
    """Fused binary domain cross-entropy with logits, its gradient and the domain accuracy in one pass.

    Args:
        logits: (N,) or (N, 1) domain-classifier logits; positive means "target".
        labels: a tensor of 0 (source) / 1 (target) per row, or an int ``n_source``: the first
            ``n_source`` rows are source and the rest target (no label tensor is built).
        weight: optional (N,) per-sample weights.
        reduction: 'mean' (over N, like ``F.binary_cross_entropy_with_logits``), 'sum' or 'none'.

    Example:
        >>> loss, n_correct = domain_bce(disc(features), n_source=64)  # doctest: +SKIP
    """
    if isinstance(labels, torch.Tensor):
        return _call_loss("domain_bce", logits, labels, 0, weight, reduction)
    return _call_loss("domain_bce", logits, None, int(labels), weight, reduction)


def domain_ce(
    logits: torch.Tensor, labels: torch.Tensor, weight: torch.Tensor | None = None, reduction: str = "mean"
) -> DomainLoss:
    """Fused K-way domain cross-entropy (multi-source DANN): logits (N, K), integer labels in [0, K)."""
    return _call_loss("domain_ce", logits, labels, weight, reduction)


__all__ = [
    "DomainLoss",
    "backend",
    "build_info",
    "cpu_capabilities",
    "cpu_capability",
    "domain_bce",
    "domain_ce",
    "grad_reverse",
    "grl_linear",
    "reference",
    "set_cpu_capability",
    "split_reverse",
    "using_cpu_capability",
]
