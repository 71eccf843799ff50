"""Assembles a DANN model (backbone + label classifier + domain discriminator) from the registries.

The trainer does the adversarial forward itself::

    f = model.backbone(torch.cat([xs, xt]))
    f_label, f_dom = dann_core.ops.split_reverse(f, len(xs), lam)
    class_logits = model.classifier(f_label)
    domain_logits = model.discriminator(f_dom, probs)   # probs: detached softmax, for conditional ones

``model(x)`` and ``model.predict(x)`` are the label path only (backbone → classifier).
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from .specs import DomainData


class DANNModel(nn.Module):
    """``backbone`` (features), ``classifier`` (label head) and ``discriminator`` (domain head)."""

    def __init__(self, backbone: nn.Module, classifier: nn.Module, discriminator: nn.Module) -> None:
        super().__init__()
        self.backbone = backbone
        self.classifier = classifier
        self.discriminator = discriminator

    @property
    def conditional(self) -> bool:
        """Whether the discriminator needs class probabilities (CDAN-style)."""
        return bool(getattr(self.discriminator, "conditional", False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits (N, num_classes)."""
        return self.classifier(self.backbone(x))

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits (N, num_classes); the caller chooses train/eval mode and grad mode."""
        return self(x)


def build_model(
    registry,
    data: DomainData,
    backbone: str,
    discriminator: str,
    backbone_options: dict[str, Any] | None = None,
    discriminator_options: dict[str, Any] | None = None,
    num_domains: int = 2,
) -> DANNModel:
    """Build the named backbone for ``data.input_shape``, its default head, and the discriminator.

    ``registry`` is a :class:`dann_core.plugins.Registry`; option dicts are validated and coerced
    by it. ``num_domains`` is 2 for source-vs-target, or the number of domains for K-way training.
    """
    features = registry.build("backbone", backbone, backbone_options or {}, input_shape=tuple(data.input_shape))
    for required in ("out_features", "default_head"):
        if not hasattr(features, required):
            raise TypeError(f"backbone '{backbone}' built a {type(features).__name__} without '{required}'")
    classifier = features.default_head(data.num_classes)
    domain_head = registry.build(
        "discriminator",
        discriminator,
        discriminator_options or {},
        in_features=int(features.out_features),
        num_domains=num_domains,
        num_classes=data.num_classes,
    )
    if not hasattr(domain_head, "conditional"):
        raise TypeError(f"discriminator '{discriminator}' built a {type(domain_head).__name__} without 'conditional'")
    return DANNModel(features, classifier, domain_head)
