"""``mlp``: a fully connected feature extractor (the JMLR 2016 toy network: one hidden layer of 15)."""
from __future__ import annotations

import math

from torch import nn

from dann_core.nn import per_domain_batch_norm

from ._shapes import check_norm

ACTIVATIONS = {"sigmoid": nn.Sigmoid, "relu": nn.ReLU, "tanh": nn.Tanh}


class MLPBackbone(nn.Module):
    """Flatten, then ``depth`` × (Linear(width) → [BatchNorm1d] → activation). Features: (N, width)."""

    def __init__(self, input_shape: tuple[int, ...], width: int, depth: int, activation: str, norm: str = "none") -> None:
        super().__init__()
        check_norm("mlp", norm)
        if activation not in ACTIVATIONS:
            raise ValueError(f"mlp backbone: activation must be one of {', '.join(ACTIVATIONS)}, got '{activation}'")
        if width < 1 or depth < 1:
            raise ValueError(f"mlp backbone: width and depth must be at least 1, got width={width} depth={depth}")
        layers: list[nn.Module] = [nn.Flatten()]
        in_features = math.prod(input_shape)
        for _ in range(depth):
            layers += [nn.Linear(in_features, width), *([nn.BatchNorm1d(width)] if norm != "none" else []), ACTIVATIONS[activation]()]
            in_features = width
        self.layers = nn.Sequential(*layers)
        self.out_features = width
        if norm == "domain":
            per_domain_batch_norm(self)

    def forward(self, x):
        return self.layers(x)

    def default_head(self, num_classes: int) -> nn.Module:
        """The toy's label predictor: one linear layer."""
        return nn.Linear(self.out_features, num_classes)


def make_mlp(input_shape: tuple[int, ...], width: int = 15, depth: int = 1, activation: str = "sigmoid", norm: str = "none") -> MLPBackbone:
    """Fully connected layers on the flattened input (the JMLR 2016 toy: one hidden layer of 15 sigmoids).

    Options:
      width: units per hidden layer (the paper's toy: 15).
      depth: number of hidden layers.
      activation: sigmoid | relu | tanh.
      norm: none | batch (BatchNorm1d before each activation) | domain (batch norm whose training
        batches are normalised per domain: source and target rows by their own statistics).
    """
    if len(input_shape) == 3 and min(input_shape[1:]) >= LARGE_IMAGE:
        import sys

        c, h, w = input_shape
        print(f"warning: backbone mlp flattens {c}×{h}×{w} images into {math.prod(input_shape)} inputs per row; for images use "
              f"--backbone resnet18 (or lenet with --set dataset.size=32)", file=sys.stderr)
    return MLPBackbone(tuple(input_shape), width, depth, activation, norm)


LARGE_IMAGE = 64
"""Images at least this many pixels a side are no input for an MLP (image-folder's default is 224)."""
