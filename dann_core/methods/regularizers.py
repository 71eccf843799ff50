"""Regularisers: loss terms any domain-adversarial method adds by name (``--set method.plus=mcc,bsp``).

A regulariser is a factory whose keyword arguments with defaults are its options (declared once, as
for components) and whose result maps a :class:`Step` to ``(loss, metrics)``: the loss already
multiplied by its own weight, the metrics detached (name them ``<regulariser>_loss`` so the
non-finite guard's report names the culprit)::

    class Confusion:
        def __init__(self, temperature: float = 2.5, weight: float = 1.0): ...
        def __call__(self, step): ...  # -> (weight * loss, {"mcc_loss": loss.detach()})

    register_regularizer("mcc", Confusion)

Every :class:`~.adversarial.DomainAdversarial` method registered through :func:`composable` (the
built-in ``dann``, ``cdan``, ``mdd``, ``bsp``) then takes the option ``plus`` (names separated by
``,`` or ``+``) and, while NAME is in ``plus``, the regulariser's options as ``NAME_OPTION``
(``--set method.plus=mcc --set method.mcc_temperature=2.0``); ``dann plugins --verbose`` lists
each regulariser once, with its options and defaults, in a section of its own.

Why a table filled at import and not a hook: a regulariser is never chosen by itself, only as a value
of a method option, so it needs no registry kind, provenance or CLI flag of its own; a plugin module
calls :func:`register_regularizer` when it is imported, which happens before any hook is called,
so the method specs built by ``register_methods`` see every regulariser of every loaded plugin.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import torch

from ..options import as_parameters, validate_options
from . import plus as table  # the module (the regulariser table lives there); `plus` is the option's name below
from .base import Method, Batch


@dataclass
class Step:
    """Source and target rows through the backbone (``features``: source rows first) and the label
    classifier on the source rows; what a regulariser reads."""

    method: Method
    batch: Batch
    features: torch.Tensor
    source_logits: torch.Tensor
    _target_logits: torch.Tensor | None = field(default=None, repr=False, kw_only=True)

    @classmethod
    def forward(cls, method: Method, batch: Batch) -> "Step":
        """The backbone on source + target as one batch, the classifier on the source rows."""
        features = method.model.backbone(torch.cat([batch.source_x, batch.target_x]))
        return cls(method, batch, features, method.model.classifier(features[: batch.source_x.shape[0]]))

    @property
    def n_source(self) -> int:
        return self.source_logits.shape[0]

    @property
    def source_features(self) -> torch.Tensor:
        return self.features[: self.n_source]

    @property
    def target_features(self) -> torch.Tensor:
        return self.features[self.n_source :]

    def target_logits(self) -> torch.Tensor:
        """The label classifier on the target rows (computed once, with gradients)."""
        if self._target_logits is None:
            self._target_logits = self.method.model.classifier(self.target_features)
        return self._target_logits


Regularizer = Callable[[Step], "tuple[torch.Tensor, dict[str, Any]]"]


def build_regularizers(plus: str | list[str], options: dict[str, Any]) -> dict[str, Regularizer]:
    """The regularisers named in ``plus``, each built with its ``NAME_OPTION`` entries of ``options``."""
    names = table.parse_plus(plus)
    built, used = {}, set()
    for name in names:
        spec = table.REGULARIZERS[name]
        mine = {key[len(name) + 1 :]: value for key, value in options.items() if key.startswith(f"{name}_")}
        used |= {f"{name}_{key}" for key in mine}
        built[name] = spec.factory(**as_parameters(validate_options(spec, mine, kind="regulariser")))
    unused = sorted(set(options) - used)
    if unused:
        owner = unused[0].split("_", 1)[0]
        if owner in table.REGULARIZERS:
            raise ValueError(table.misplaced_option(unused[0], owner, names))
        raise ValueError(f"method option '{unused[0]}' belongs to no regulariser; known regularisers: {', '.join(sorted(table.REGULARIZERS))}")
    return built


def add_terms(terms: dict[str, Regularizer], step: Step, loss: torch.Tensor, metrics: dict[str, Any]):
    """``loss`` and ``metrics`` plus every term of ``terms`` evaluated on ``step``."""
    metrics = dict(metrics)
    for term in terms.values():
        extra, more = term(step)
        loss = loss + extra
        metrics.update(more)
    return loss, metrics
