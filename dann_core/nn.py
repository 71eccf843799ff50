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


# ------------------------------------------------------------------- per-domain batch statistics


class _PerDomainStatistics:
    """Batch norm that, in training, normalises the source rows and the target rows of one input by
    their own batch statistics (what separate source and target forwards would do), in one call.

    ``rows`` is ``(n_source, n_target)`` while :func:`domain_rows` is active and None otherwise; an
    input of exactly ``n_source + n_target`` rows is then split at ``n_source``. Any other input
    (a source-only or target-only forward, evaluation) is one domain already and is normalised as
    plain batch norm does. The running statistics, used in eval mode, are updated by each domain in
    turn: they end up between the two domains' statistics.
    """

    rows: tuple[int, int] | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rows = self.rows
        if rows is not None and self.training and x.shape[0] == rows[0] + rows[1] and min(rows) > 0:
            return torch.cat([super().forward(x[: rows[0]]), super().forward(x[rows[0] :])])
        return super().forward(x)


class DomainBatchNorm1d(_PerDomainStatistics, nn.BatchNorm1d):
    """:class:`torch.nn.BatchNorm1d` with per-domain training statistics (see :func:`domain_rows`).

    Example:
        >>> bn = DomainBatchNorm1d(4)
        >>> with domain_rows(bn, 3, 5):
        ...     y = bn(torch.randn(8, 4))  # rows 0-2 and 3-7 normalised separately
    """


class DomainBatchNorm2d(_PerDomainStatistics, nn.BatchNorm2d):
    """:class:`torch.nn.BatchNorm2d` with per-domain training statistics (see :func:`domain_rows`)."""


def per_domain_batch_norm(module: nn.Module) -> nn.Module:
    """Replace every ``BatchNorm1d``/``BatchNorm2d`` in ``module`` (in place; ``module`` itself too)
    by its per-domain twin, keeping its parameters, buffers and settings (state-dict keys unchanged).

    A backbone plugin calls it to offer per-domain batch statistics; the method's training forward
    sets the domain rows (:func:`domain_rows`, which the engine enters around every step).
    """
    twins = {nn.BatchNorm1d: DomainBatchNorm1d, nn.BatchNorm2d: DomainBatchNorm2d}
    twin = twins.get(type(module))
    if twin is not None:
        module.__class__ = twin  # same attributes, parameters and buffers: only forward changes
        return module
    for child in module.children():
        per_domain_batch_norm(child)
    return module


def per_domain_layers(module: nn.Module) -> list[nn.Module]:
    """The layers of ``module`` that normalise per domain (empty for most networks)."""
    return [m for m in module.modules() if isinstance(m, _PerDomainStatistics)]


class domain_rows:
    """Context: inputs of ``n_source + n_target`` rows (source rows first) are split per domain by
    the per-domain batch norm layers of ``module`` (or of ``layers``, when the caller has them)."""

    def __init__(self, module: nn.Module | None, n_source: int, n_target: int, layers: list[nn.Module] | None = None) -> None:
        self.layers = per_domain_layers(module) if layers is None else layers
        self.rows = (int(n_source), int(n_target))

    def __enter__(self) -> "domain_rows":
        for layer in self.layers:
            layer.rows = self.rows
        return self

    def __exit__(self, *exc_info) -> None:
        for layer in self.layers:
            layer.rows = None
