"""``coral``: Deep CORAL (Sun & Saenko, 2016), a non-adversarial baseline next to DANN."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from dann_core.methods import SOURCE, TARGET, Method


def coral_distance(source: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """‖C_s − C_t‖²_F / (4 d²) of the features' covariance matrices."""
    d = source.shape[1]
    return (torch.cov(source.T) - torch.cov(target.T)).pow(2).sum() / (4 * d * d)


class Coral(Method):
    """Source cross-entropy plus weight × the CORAL distance of source and target features."""

    needs = frozenset({SOURCE, TARGET})

    def __init__(self, context, weight: float = 1.0) -> None:
        super().__init__(context)
        if weight < 0:
            raise ValueError(f"coral: weight must be ≥ 0, got {weight}")
        self.weight = weight

    def objective(self, batch):
        n = len(batch.source_x)
        features = self.model.backbone(torch.cat([batch.source_x, batch.target_x]))
        label_loss = F.cross_entropy(self.model.classifier(features[:n]), batch.source_y)
        coral = coral_distance(features[:n], features[n:])
        return label_loss + self.weight * coral, {"label_loss": label_loss.detach(), "coral": coral.detach()}
