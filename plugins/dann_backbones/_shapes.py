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
    was_training = layers.training
    layers.eval()  # a dummy row must not move batch-norm running statistics
    with torch.no_grad():
        try:
            out = layers(torch.zeros(1, *input_shape))
        except RuntimeError as exc:
            raise ValueError(f"backbone '{name}' cannot take input_shape {tuple(input_shape)}: too small? ({exc})") from None
        finally:
            layers.train(was_training)
    return int(out.flatten(1).shape[1])


NORMS = ("none", "batch", "domain")
"""Normalisation a built-in backbone offers: none, batch norm, or batch norm with per-domain
training statistics (:func:`dann_core.nn.per_domain_batch_norm`)."""


def check_norm(name: str, norm: str) -> str:
    if norm not in NORMS:
        raise ValueError(f"backbone '{name}': norm must be one of {', '.join(NORMS)}, got '{norm}'")
    return norm
