"""Evaluating a network with per-domain batch norm: source inputs with the source's statistics.

A network with per-domain batch-norm layers (:mod:`dann_core.domain_norm`) predicts with the target
domain's running statistics by default (AdaBN). A run's evaluation also reads source inputs —
source-val accuracy, the collapse rule, selectors that look at source rows — and those must be
normalised as in training, by the source's statistics. :class:`PerDomainCandidate` does that for
every input that is a source split or a view of one; for a network without such layers it is a
plain :class:`~dann_core.selection.Candidate`.
"""
from __future__ import annotations

from typing import Any

import torch

from ..domain_norm import SOURCE, eval_statistics, per_domain_layers
from ..selection import Candidate


class PerDomainCandidate(Candidate):
    """A :class:`Candidate` that evaluates source inputs with the source's batch-norm statistics."""

    def __init__(self, step: int, method: Any, data, device="cpu", config: Any = None, registry: Any = None, **kwargs) -> None:
        super().__init__(step, method, data, device, config, registry, **kwargs)
        self._layers = per_domain_layers(method) if method is not None else []

    def logits(self, x) -> torch.Tensor:
        if self._layers and is_source_input(self.data, x):
            with eval_statistics(self._layers, SOURCE):
                return super().logits(x)
        return super().logits(x)

    def features(self, x) -> torch.Tensor:
        if self._layers and is_source_input(self.data, x):
            with eval_statistics(self._layers, SOURCE):
                return super().features(x)
        return super().features(x)


def is_source_input(data, x) -> bool:
    """Whether ``x`` is the source_train or source_val inputs of ``data`` (a SelectionData) or one of
    its fixed subsamples of them."""
    sources = (data.source_train.x, data.source_val.x)
    if any(x is s for s in sources):
        return True
    for base, view in getattr(data, "_views", {}).values():  # SelectionData.subsample's (input, view) pairs
        base_x, view_x = getattr(base, "x", base), getattr(view, "x", view)
        if view_x is x and any(base_x is s for s in sources):
            return True
    return False
