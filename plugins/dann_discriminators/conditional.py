"""``conditional``: CDAN's domain classifier on the multilinear map features ⊗ class probabilities.

Long et al., "Conditional Adversarial Domain Adaptation" (NeurIPS 2018). The input is the flattened
outer product of the features f (N, F) and the class probabilities g (N, C): (N, F·C). With
``random_dim = d > 0`` it is CDAN's randomized multilinear map (R_f f) ⊙ (R_g g) / √d with fixed
Gaussian R_f (F×d), R_g (C×d) stored as buffers (saved in checkpoints, never trained).
"""
from __future__ import annotations

import math

import torch
from torch import nn

from .mlp import mlp_layers, output_width


class ConditionalDiscriminator(nn.Module):
    """Domain logits from features conditioned on (detached) class probabilities."""

    conditional = True

    def __init__(
        self, in_features: int, num_domains: int, num_classes: int, hidden: tuple[int, ...], dropout: float, random_dim: int
    ) -> None:
        super().__init__()
        if random_dim < 0:
            raise ValueError(f"conditional discriminator random_dim must be >= 0 (0 = exact outer product), got {random_dim}")
        self.in_features = in_features
        self.num_classes = num_classes
        self.random_dim = random_dim
        if random_dim:
            self.register_buffer("feature_projection", torch.randn(in_features, random_dim))
            self.register_buffer("class_projection", torch.randn(num_classes, random_dim))
        joint = random_dim or in_features * num_classes
        self.layers = mlp_layers(joint, tuple(hidden), output_width(num_domains), dropout)

    def forward(self, features: torch.Tensor, class_probs: torch.Tensor | None = None) -> torch.Tensor:
        if class_probs is None:
            raise ValueError("the conditional discriminator needs class_probs (detached softmax of the class logits)")
        if class_probs.shape != (features.shape[0], self.num_classes):
            raise ValueError(
                f"conditional discriminator: class_probs must have shape ({features.shape[0]}, {self.num_classes}), "
                f"got {tuple(class_probs.shape)}"
            )
        return self.layers(self.multilinear_map(features, class_probs))

    def multilinear_map(self, features: torch.Tensor, class_probs: torch.Tensor) -> torch.Tensor:
        """(N, F·C) outer product, or (N, random_dim) randomized map when ``random_dim`` is set."""
        if self.random_dim:
            return (features @ self.feature_projection) * (class_probs @ self.class_projection) / math.sqrt(self.random_dim)
        return torch.bmm(class_probs.unsqueeze(2), features.unsqueeze(1)).flatten(1)


def make_conditional_discriminator(
    in_features: int,
    num_domains: int,
    num_classes: int,
    hidden: tuple[int, ...] = (1024, 1024),
    dropout: float = 0.5,
    random_dim: int = 0,
) -> ConditionalDiscriminator:
    """CDAN discriminator on features ⊗ class probabilities; (N, 1) or (N, num_domains) logits.

    Options:
      hidden: comma-separated hidden widths (CDAN: "1024,1024").
      dropout: dropout after each hidden ReLU (CDAN: 0.5).
      random_dim: 0 for the exact outer product (F·C inputs); d > 0 for the randomized multilinear
        map to d dimensions (CDAN uses 1024 when F·C > 4096).
    """
    return ConditionalDiscriminator(in_features, num_domains, num_classes, tuple(hidden), dropout, random_dim)
