"""``nn.Module`` layer over :mod:`dann_core.ops`: the gradient reversal layer and the domain-adversarial loss.

Neither module keeps a schedule: λ is an argument (or a buffer the caller sets), so calling
``forward`` twice never changes what the next call does.
"""
from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from . import ops


def as_lambda(value: float | torch.Tensor, like: torch.Tensor | None = None) -> torch.Tensor:
    """λ as the 0-dim float tensor the ops expect (a Python number becomes one on ``like``'s device)."""
    if isinstance(value, torch.Tensor):
        return value
    device = like.device if like is not None else "cpu"
    dtype = like.dtype if like is not None and like.is_floating_point() else torch.float32
    return torch.tensor(float(value), dtype=dtype, device=device)


class GradientReversal(nn.Module):
    """Identity on the forward pass; multiplies the gradient by ``-λ`` on the backward pass.

    λ is either given to each call or taken from the ``lambd`` buffer, which changes only when the
    caller sets it (``set_lambda``); there is no counter advancing on forward. The paper's ramp is
    :func:`dann_core.schedules.dann_lambda`: ``λ_p = 2 / (1 + exp(-γ·p)) - 1``.

    Args:
        lambd: initial value of the buffer used when ``forward`` gets no λ.

    Shape:
        - Input: ``(N, *)``.
        - Output: ``(N, *)``, a view of the input.

    Example:
        >>> grl = GradientReversal()
        >>> x = torch.ones(3, requires_grad=True)
        >>> grl(x, 0.5).sum().backward()
        >>> x.grad
        tensor([-0.5000, -0.5000, -0.5000])
    """

    def __init__(self, lambd: float = 1.0):
        super().__init__()
        self.register_buffer("lambd", torch.tensor(float(lambd)))

    def set_lambda(self, value: float) -> None:
        """Set the buffer λ in place (same tensor, so compiled graphs do not recompile)."""
        self.lambd.fill_(float(value))

    def forward(self, x: torch.Tensor, lambd: float | torch.Tensor | None = None) -> torch.Tensor:
        return ops.grad_reverse(x, self.lambd if lambd is None else as_lambda(lambd, x))

    def extra_repr(self) -> str:
        return f"lambd={float(self.lambd):g}"


class DomainAdversarialOutput(NamedTuple):
    """The domain loss, the number of rows classified right and that number as a fraction."""

    loss: torch.Tensor
    n_correct: torch.Tensor
    accuracy: torch.Tensor


def domain_classification_loss(
    logits: torch.Tensor, domains: int | torch.Tensor, weight: torch.Tensor | None = None
) -> DomainAdversarialOutput:
    """The fused domain loss of discriminator logits: ``domain_bce`` for ``(N, 1)``, ``domain_ce`` for ``(N, K)``.

    ``domains`` is an int ``n_source`` (rows ``[0, n_source)`` are source, the rest target; binary
    only) or an int64 tensor ``(N,)`` of domain labels; ``weight`` ``(N,)`` scales each row's loss
    (the mean divides by N).
    """
    if logits.dim() == 2 and logits.shape[1] > 1:
        if not isinstance(domains, torch.Tensor):
            raise ValueError(f"a {logits.shape[1]}-way discriminator needs a tensor of domain labels, got {domains!r}")
        result = ops.domain_ce(logits, domains, weight)
    else:
        result = ops.domain_bce(logits, domains, weight)
    return DomainAdversarialOutput(result.loss, result.n_correct, result.n_correct.float() / logits.shape[0])


class DomainAdversarialLoss(nn.Module):
    """Domain classifier plus the fused domain loss: ``domain_bce`` for one output, ``domain_ce`` for K.

    Args:
        discriminator: module mapping features to logits, ``(N, 1)`` for source-vs-target
            (positive = target) or ``(N, K)`` for K domains.
        reverse_gradient: put a gradient reversal between the features and the discriminator. Pass
            False when the features already went through one (e.g. from ``ops.split_reverse``).

    Shape:
        - features: ``(N, D)``.
        - domains: an int ``n_source`` (rows ``[0, n_source)`` are source, the rest target; binary
          only) or an int64 tensor ``(N,)`` of domain labels.
        - weight: optional ``(N,)`` per-row loss weights (CDAN+E's entropy weights).
        - Output: a :class:`DomainAdversarialOutput` of 0-dim tensors.

    Example:
        >>> loss_fn = DomainAdversarialLoss(nn.Linear(8, 1))
        >>> out = loss_fn(torch.randn(6, 8), 3, lambd=0.1)
        >>> out.loss.backward()
    """

    def __init__(self, discriminator, reverse_gradient: bool = True):
        super().__init__()
        self.discriminator = discriminator
        self.reverse_gradient = reverse_gradient

    def forward(
        self,
        features: torch.Tensor,
        domains: int | torch.Tensor,
        lambd: float | torch.Tensor | None = None,
        weight: torch.Tensor | None = None,
    ) -> DomainAdversarialOutput:
        if self.reverse_gradient:
            if lambd is None:
                raise ValueError("DomainAdversarialLoss(reverse_gradient=True) needs lambd")
            features = ops.grad_reverse(features, as_lambda(lambd, features))
        return domain_classification_loss(self.discriminator(features), domains, weight)



# per-domain batch statistics (DSBN, AdaBN at test) live in their own module; their public names here
from .domain_norm import (  # noqa: E402,F401
    DomainBatchNorm1d,
    DomainBatchNorm2d,
    domain_rows,
    eval_statistics,
    per_domain_batch_norm,
    per_domain_layers,
)
