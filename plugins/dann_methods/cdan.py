"""``cdan``: Conditional Domain Adversarial Networks (Long et al., NeurIPS 2018), with CDAN+E.

The discriminator sees the multilinear map of the (gradient-reversed) features f and the detached
class probabilities g: the flattened outer product g ⊗ f, or, when that is wide (F·C > 4096, as in
the paper) the randomised map (R_f f) ⊙ (R_g g) / √d with fixed Gaussian R_f, R_g saved in
checkpoints. ``entropy=true`` is CDAN+E: each row's domain loss is weighted by 1 + e^(−H(g)),
normalised within each domain, through the fused loss's per-sample weight.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from dann_core.methods import AdversarialStep, MethodContext, DomainAdversarial
from dann_core.nn import domain_classification_loss

EXACT_MAP_LIMIT = 4096
MULTILINEAR = ("auto", "exact", "random")


class MultilinearMap(nn.Module):
    """(N, F), (N, C) → (N, F·C) outer product, or (N, d) randomised map when ``random_dim`` is set."""

    def __init__(self, in_features: int, num_classes: int, random_dim: int = 0) -> None:
        super().__init__()
        self.random_dim = random_dim
        self.out_features = random_dim or in_features * num_classes
        if random_dim:
            self.register_buffer("feature_projection", torch.randn(in_features, random_dim))
            self.register_buffer("class_projection", torch.randn(num_classes, random_dim))

    def forward(self, features: torch.Tensor, class_probs: torch.Tensor) -> torch.Tensor:
        if self.random_dim:
            return (features @ self.feature_projection) * (class_probs @ self.class_projection) / math.sqrt(self.random_dim)
        return torch.bmm(class_probs.unsqueeze(2), features.unsqueeze(1)).flatten(1)


class CDAN(DomainAdversarial):
    """CDAN: the discriminator conditioned on class predictions; entropy=true is CDAN+E.

    Options:
      lambda: GRL factor λ: 'schedule' (the paper's ramp) or a number ≥ 0.
      gamma: γ of the λ schedule.
      entropy: weight each row's domain loss by 1 + exp(-H(p)) (CDAN+E).
      multilinear: 'exact' outer product, 'random' map to random_dim, or 'auto' (random when F·C > 4096).
      random_dim: width d of the randomised multilinear map (the paper: 1024).
      plus: regularisers added to the loss (e.g. 'mcc': CDAN+MCC).
    """

    def __init__(
        self,
        context: MethodContext,
        lambda_: str = "schedule",
        gamma: float = 10.0,
        entropy: bool = False,
        multilinear: str = "auto",
        random_dim: int = 1024,
        plus: str = "",
        **regularizer_options,
    ) -> None:
        if multilinear not in MULTILINEAR:
            raise ValueError(f"bad cdan multilinear {multilinear!r}: choose from {', '.join(MULTILINEAR)}")
        if random_dim < 1:
            raise ValueError(f"bad cdan random_dim {random_dim}: use a width ≥ 1 (the paper: 1024)")
        width = int(context.backbone.out_features) * context.num_classes
        randomise = multilinear == "random" or (multilinear == "auto" and width > EXACT_MAP_LIMIT)
        self._map_args = (int(context.backbone.out_features), context.num_classes, random_dim if randomise else 0)
        self.entropy = bool(entropy)
        super().__init__(context, lambda_=lambda_, gamma=gamma, plus=plus, **regularizer_options)

    def build_discriminator(self, context: MethodContext) -> nn.Module:
        self.multilinear = MultilinearMap(*self._map_args)
        return context.make_discriminator(self.multilinear.out_features)

    @torch.no_grad()
    def class_probs(self, step: AdversarialStep) -> torch.Tensor:
        """Detached softmax of every row: the source logits already computed, the target rows' now."""
        target_logits = self.model.classifier(step.target_features)
        return torch.cat([step.source_logits, target_logits]).softmax(dim=1)

    def domain_loss(self, step: AdversarialStep):
        probs = self.class_probs(step)
        logits = self.model.discriminator(self.multilinear(step.reversed, probs))
        weight = entropy_weights(probs, step.domains, self.num_domains) if self.entropy else None
        return domain_classification_loss(logits, step.domains, weight)

    def domain_logits(self, features: torch.Tensor, class_logits: torch.Tensor) -> torch.Tensor:
        return self.model.discriminator(self.multilinear(features, class_logits.softmax(dim=1)))


def entropy_weights(probs: torch.Tensor, domains: int | torch.Tensor, num_domains: int = 2) -> torch.Tensor:
    """CDAN+E weights 1 + e^(−H(p)), normalised so each domain present carries an equal share.

    Scaled so the fused loss's mean (÷N) equals the paper's Σ w·ℓ / Σ w with per-domain sums of 1.
    """
    n = probs.shape[0]
    entropy = -(probs * probs.clamp_min(1e-12).log()).sum(dim=1)
    w = 1.0 + torch.exp(-entropy)
    if isinstance(domains, int):
        labels = (torch.arange(n, device=probs.device) >= domains).long()
    else:
        labels = domains.long()
    sums = torch.zeros(num_domains, device=w.device, dtype=w.dtype).index_add(0, labels, w)
    present = (sums > 0).sum()
    return w / sums[labels] * n / present
