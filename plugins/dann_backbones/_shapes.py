"""Shape helpers shared by the convolutional backbones."""
from __future__ import annotations

import torch
from torch import nn


def image_channels(name: str, input_shape: tuple[int, ...]) -> int:
    """The channel count of a (C, H, W) input shape; a one-line error naming the backbone otherwise."""
    if len(input_shape) != 3:
        raise ValueError(f"backbone '{name}' needs image inputs of shape (C, H, W), got input_shape {tuple(input_shape)}")
    return int(input_shape[0])


def flat_features(name: str, layers: nn.Module, input_shape: tuple[int, ...]) -> int:
    """Number of features ``layers`` produce for one input of ``input_shape`` (a dummy forward)."""
    with torch.no_grad():
        try:
            out = layers(torch.zeros(1, *input_shape))
        except RuntimeError as exc:
            raise ValueError(f"backbone '{name}' cannot take input_shape {tuple(input_shape)}: too small? ({exc})") from None
    return int(out.flatten(1).shape[1])
