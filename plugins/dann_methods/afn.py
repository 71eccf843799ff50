"""``afn``: Adaptive Feature Norm (Xu, Li, Yang & Lin, "Larger Norm More Transferable: An Adaptive
Feature Norm Approach for Unsupervised Domain Adaptation", ICCV 2019), as a method (source
cross-entropy + AFN, the paper's setting) and as the regulariser ``plus=afn`` of any adversarial method.

Stepwise AFN (SAFN, the default) pulls each row's feature norm a step Δr beyond its current value,
which is held fixed (detached) in the target: L = mean_i (‖f_i‖ − (‖f_i‖.detach() + Δr))², on the
source rows and on the target rows separately, summed. Hard AFN (HAFN, ``radius`` > 0) pulls the
mean norm of each domain to a fixed R: L = (mean_i ‖f_i‖ − R)². Paper defaults: Δr = 1,
λ = 0.05 (HAFN: R = 25).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from dann_core.methods import SOURCE, TARGET, Method, MethodContext, Batch, Step, accuracy


def feature_norm_loss(features: torch.Tensor, delta: float = 1.0, radius: float = 0.0) -> torch.Tensor:
    """SAFN loss of one domain's features (N, D), or HAFN's when ``radius`` > 0."""
    norms = features.norm(p=2, dim=1)
    if radius > 0:
        return (norms.mean() - radius) ** 2
    return ((norms - (norms.detach() + delta)) ** 2).mean()


class FeatureNorm:
    """The AFN regulariser: ``weight`` × (feature-norm loss on source + on target).

    Options:
      delta: Δr of stepwise AFN (the paper: 1).
      weight: trade-off λ (the paper: 0.05).
      radius: R > 0 selects hard AFN with that radius (the paper: 25); 0 is stepwise AFN.
    """

    def __init__(self, delta: float = 1.0, weight: float = 0.05, radius: float = 0.0) -> None:
        if delta < 0 or weight < 0 or radius < 0:
            raise ValueError(f"bad afn options delta={delta!r} weight={weight!r} radius={radius!r}: each must be ≥ 0 (the paper: 1, 0.05, 0)")
        self.delta, self.weight, self.radius = float(delta), float(weight), float(radius)

    def __call__(self, step: Step):
        loss = feature_norm_loss(step.source_features, self.delta, self.radius) + feature_norm_loss(step.target_features, self.delta, self.radius)
        return self.weight * loss, {"afn_loss": loss.detach()}


class AFN(Method):
    """AFN: cross-entropy on source plus λ × the adaptive feature-norm loss on both domains.

    Options:
      delta: Δr of stepwise AFN (the paper: 1).
      weight: trade-off λ (the paper: 0.05).
      radius: R > 0 selects hard AFN with that radius (the paper: 25); 0 is stepwise AFN.
    """

    needs = frozenset({SOURCE, TARGET})
    summary_metrics, progress_metrics = ("label_loss", "afn_loss"), {"label_loss": "loss", "afn_loss": "afn"}

    def __init__(self, context: MethodContext, delta: float = 1.0, weight: float = 0.05, radius: float = 0.0) -> None:
        super().__init__(context)
        self.norm = FeatureNorm(delta, weight, radius)

    def objective(self, batch: Batch):
        step = Step.forward(self, batch)
        label_loss = F.cross_entropy(step.source_logits, batch.source_y)
        extra, metrics = self.norm(step)
        metrics.update(label_loss=label_loss.detach(), train_acc=accuracy(step.source_logits, batch.source_y))
        return label_loss + extra, metrics
