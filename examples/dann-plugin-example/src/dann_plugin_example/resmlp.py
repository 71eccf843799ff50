"""``resmlp``: a residual MLP feature extractor for tabular inputs."""
from __future__ import annotations

import math

from torch import nn


class ResidualBlock(nn.Module):
    """x + Linear(ReLU(Linear(LayerNorm(x))))."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.LayerNorm(width), nn.Linear(width, width), nn.ReLU(), nn.Linear(width, width))

    def forward(self, x):
        return x + self.body(x)


class ResMLP(nn.Module):
    """Flatten → Linear(width) → ``blocks`` residual blocks → ReLU. Features: (N, width)."""

    def __init__(self, input_shape: tuple[int, ...], width: int, blocks: int) -> None:
        super().__init__()
        self.layers = nn.Sequential(
            nn.Flatten(), nn.Linear(math.prod(input_shape), width), *[ResidualBlock(width) for _ in range(blocks)], nn.ReLU()
        )
        self.out_features = width

    def forward(self, x):
        return self.layers(x)

    def default_head(self, num_classes: int) -> nn.Module:
        return nn.Linear(self.out_features, num_classes)


def make_resmlp(input_shape: tuple[int, ...], width: int = 32, blocks: int = 2) -> ResMLP:
    """A residual MLP (width units, blocks residual blocks) on the flattened input."""
    if width < 1 or blocks < 0:
        raise ValueError(f"resmlp backbone: width must be ≥ 1 and blocks ≥ 0, got width={width} blocks={blocks}")
    return ResMLP(tuple(input_shape), width, blocks)
