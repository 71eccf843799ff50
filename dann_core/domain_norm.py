"""Per-domain batch statistics: domain-specific batch norm (DSBN) with the target's statistics at test (AdaBN).

A per-domain batch-norm layer shares its affine weights between the domains but keeps two sets of
statistics. In training, an input of a step's source rows followed by its target rows (what DANN-style
methods pass through the backbone) is split: each part is normalised by its own batch statistics,
as separate source and target forwards would be, and updates its own domain's running statistics.
In evaluation the layer uses one domain's running statistics: the target's by default (AdaBN: the
domain the model is adapted to and deployed on), the source's inside :class:`eval_statistics`
(the run's evaluation computes source-val accuracy, and every selector's source inputs, that way).

Which rows are which in training comes from :class:`domain_rows`, which the engine enters around
every step (``Method.domain_statistics``). A training input that is not the two domains together
is one domain: the one whose row count it has when the counts differ; otherwise (equal counts, or
outside a step) it is normalised by its batch statistics and updates both domains' running statistics.
"""
from __future__ import annotations

import contextlib
from typing import Iterator

import torch
import torch.nn.functional as F
from torch import nn

SOURCE, TARGET = "source", "target"


class _PerDomainStatistics:
    """The forward of a per-domain batch-norm layer (mixed into BatchNorm1d/2d; see the module docstring).

    Buffers: ``running_mean``/``running_var`` hold the source domain's statistics,
    ``target_running_mean``/``target_running_var`` the target's.
    """

    rows: tuple[int, int] | None = None  # (n_source, n_target) of the step being trained
    eval_domain: str = TARGET  # whose running statistics evaluation uses

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return self._normalise(x, self.eval_domain)
        rows = self.rows
        if rows is not None and min(rows) > 0 and x.shape[0] == rows[0] + rows[1]:
            return torch.cat([self._normalise(x[: rows[0]], SOURCE), self._normalise(x[rows[0] :], TARGET)])
        if rows is not None and rows[0] != rows[1] and x.shape[0] in rows:
            return self._normalise(x, SOURCE if x.shape[0] == rows[0] else TARGET)
        with torch.no_grad():  # one domain, but which is unknown: its statistics update both estimates
            self._normalise(x.detach(), TARGET)
        return self._normalise(x, SOURCE)

    def _normalise(self, x: torch.Tensor, domain: str) -> torch.Tensor:
        self._check_input_dim(x)
        mean, var = (self.running_mean, self.running_var) if domain == SOURCE else (self.target_running_mean, self.target_running_var)
        momentum = 0.0 if self.momentum is None else self.momentum
        if self.training and self.momentum is None:  # a cumulative average, as BatchNorm's momentum=None
            self.num_batches_tracked.add_(1)
            momentum = 1.0 / float(self.num_batches_tracked)
        elif self.training:
            self.num_batches_tracked.add_(1)
        return F.batch_norm(x, mean, var, self.weight, self.bias, self.training, momentum, self.eps)


class DomainBatchNorm1d(_PerDomainStatistics, nn.BatchNorm1d):
    """:class:`torch.nn.BatchNorm1d` with per-domain statistics (see the module docstring).

    Example:
        >>> bn = per_domain_batch_norm(nn.BatchNorm1d(4))
        >>> with domain_rows(bn, 3, 5):
        ...     y = bn(torch.randn(8, 4))  # rows 0-2 (source) and 3-7 (target) normalised separately
    """


class DomainBatchNorm2d(_PerDomainStatistics, nn.BatchNorm2d):
    """:class:`torch.nn.BatchNorm2d` with per-domain statistics (see the module docstring)."""


_TWINS = {nn.BatchNorm1d: DomainBatchNorm1d, nn.BatchNorm2d: DomainBatchNorm2d}


def per_domain_batch_norm(module: nn.Module) -> nn.Module:
    """Make every ``BatchNorm1d``/``BatchNorm2d`` of ``module`` (``module`` itself too) per-domain,
    in place: same parameters and buffers under the same names, plus the target's running statistics
    (a copy of the current ones). A backbone plugin calls it to offer per-domain batch statistics."""
    twin = _TWINS.get(type(module))
    if twin is not None:
        if not module.track_running_stats:
            raise ValueError("per-domain batch norm needs running statistics (track_running_stats=True)")
        module.__class__ = twin  # only forward changes
        module.register_buffer("target_running_mean", module.running_mean.detach().clone())
        module.register_buffer("target_running_var", module.running_var.detach().clone())
        return module
    for child in module.children():
        per_domain_batch_norm(child)
    return module


def per_domain_layers(module: nn.Module) -> list[nn.Module]:
    """The per-domain batch-norm layers of ``module`` (empty for most networks)."""
    return [m for m in module.modules() if isinstance(m, _PerDomainStatistics)]


class domain_rows:
    """Context of one training step: an input of ``n_source + n_target`` rows (source rows first) is
    split per domain by the per-domain layers of ``module`` (or ``layers``, when the caller has them)."""

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


@contextlib.contextmanager
def eval_statistics(module: nn.Module | list[nn.Module], domain: str) -> Iterator[None]:
    """Evaluate ``module`` (or a list of per-domain layers) with ``domain``'s running statistics
    (``"source"`` or ``"target"``, the default outside this context)."""
    if domain not in (SOURCE, TARGET):
        raise ValueError(f"domain must be '{SOURCE}' or '{TARGET}', got {domain!r}")
    layers = module if isinstance(module, list) else per_domain_layers(module)
    previous = [layer.eval_domain for layer in layers]
    for layer in layers:
        layer.eval_domain = domain
    try:
        yield
    finally:
        for layer, value in zip(layers, previous):
            layer.eval_domain = value
