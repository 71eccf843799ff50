"""The network of a run: backbone (features) → label classifier, plus the method's domain discriminator.

:func:`build_networks` builds the backbone and its default head from the registry and returns the
factory of the run's discriminator plugin; the method decides whether (and on what features) it
builds a discriminator. ``model(x)`` and ``model.predict(x)`` are the label path only. With a
``bottleneck`` the backbone is a :class:`WithBottleneck`, so both heads see the bottleneck features.
"""
from __future__ import annotations

from typing import Any, Callable

import torch
from torch import nn

from .specs import DomainData


class DANNModel(nn.Module):
    """``backbone`` (features), ``classifier`` (label head) and ``discriminator`` (domain head, or None)."""

    def __init__(self, backbone: nn.Module, classifier: nn.Module, discriminator: nn.Module | None = None) -> None:
        super().__init__()
        self.backbone = backbone
        self.classifier = classifier
        self.discriminator = discriminator

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits (N, num_classes)."""
        return self.classifier(self.backbone(x))

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits (N, num_classes); the caller chooses train/eval mode and grad mode."""
        return self(x)


class WithBottleneck(nn.Module):
    """A backbone followed by Linear(out_features, width) → BatchNorm1d → ReLU: a backbone of ``width`` features.

    tllib's DANN/CDAN bottleneck for Office-style fine-tuning (no dropout: their dropout sits in the
    domain discriminator, not here). Its default head is one linear layer, as there. Its parameters
    are new, so only the wrapped backbone's are pretrained; ``input_normalization`` is the backbone's.
    """

    def __init__(self, backbone: nn.Module, width: int) -> None:
        super().__init__()
        self.backbone = backbone
        self.bottleneck = nn.Sequential(nn.Linear(backbone.out_features, width), nn.BatchNorm1d(width), nn.ReLU())
        self.out_features = int(width)
        self.input_normalization = getattr(backbone, "input_normalization", None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bottleneck(self.backbone(x))

    def default_head(self, num_classes: int) -> nn.Module:
        return nn.Linear(self.out_features, num_classes)

    def pretrained_parameters(self) -> list[nn.Parameter]:
        marked = getattr(self.backbone, "pretrained_parameters", None)
        return list(marked()) if callable(marked) else []


def build_networks(
    registry,
    data: DomainData,
    backbone: str,
    discriminator: str,
    backbone_options: dict[str, Any] | None = None,
    discriminator_options: dict[str, Any] | None = None,
    num_domains: int = 2,
    bottleneck: int = 0,
) -> tuple[nn.Module, nn.Module, Callable[[int], nn.Module]]:
    """(backbone, its default head, ``make_discriminator(in_features)``) for ``data``.

    ``registry`` is a :class:`dann_core.plugins.Registry`; option dicts are validated and coerced by
    it. The discriminator options are validated here, before training, even if the method never
    builds one. ``num_domains`` is 2 for source-vs-target, or the number of domains for K-way training.
    ``bottleneck`` > 0 wraps the backbone in a :class:`WithBottleneck` of that width.
    """
    from .plugins import ComponentError, validate_options
    from .plugins.contracts import backbone_output_problem

    features = registry.build("backbone", backbone, backbone_options or {}, input_shape=tuple(data.input_shape))
    if bottleneck:
        features = WithBottleneck(features, bottleneck)
    classifier = features.default_head(data.num_classes)
    sample = data.source_train.x[:2] if isinstance(data.source_train.x, torch.Tensor) else torch.zeros(2, *data.input_shape)
    problem = backbone_output_problem(features, classifier, sample, data.num_classes)
    if problem:
        raise ComponentError(f"backbone '{backbone}' of {registry.origin('backbone', backbone)} {problem}")
    validate_options(registry.get("discriminator", discriminator), discriminator_options or {}, kind="discriminator")

    def make_discriminator(in_features: int, domains: int = num_domains) -> nn.Module:
        return registry.build(
            "discriminator", discriminator, discriminator_options or {}, in_features=int(in_features), num_domains=domains
        )

    return features, classifier, make_discriminator
