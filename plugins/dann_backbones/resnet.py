"""``resnet18`` / ``resnet50``: torchvision ResNets, randomly initialised or from a local state_dict.

Nothing is ever downloaded: ``weights`` is a path to a file saved with ``torch.save(state_dict)``
(e.g. ImageNet weights you fetched yourself). The final ``fc`` layer is dropped (its keys in the file
are ignored); features are the pooled ``fc.in_features`` (512 or 2048). With ``weights`` every parameter
is pretrained (``pretrained_parameters()``: trained at ``backbone_lr_mult`` × lr) and inputs should be
standardised with ImageNet's statistics (``input_normalization = "imagenet"``). ``weights`` is an
init option: a trained run's checkpoint holds the weights, so evaluating it never needs the file.
"""
from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

from ._shapes import image_channels


class ResNetBackbone(nn.Module):
    """A torchvision ResNet up to global average pooling: (N, C, H, W) → (N, out_features)."""

    def __init__(self, net: nn.Module, pretrained: bool = False, new_conv1: bool = False) -> None:
        super().__init__()
        self.out_features = int(net.fc.in_features)
        net.fc = nn.Identity()
        self.net = net
        self.pretrained, self.new_conv1 = pretrained, new_conv1
        # ImageNet statistics are per RGB channel: a rebuilt first conv sees other inputs
        self.input_normalization = "imagenet" if pretrained and not new_conv1 else None

    def pretrained_parameters(self) -> list[nn.Parameter]:
        """The parameters loaded from the weights file: all of them, less a first conv rebuilt for
        another channel count (new, so it trains at the full rate); none without weights."""
        if not self.pretrained:
            return []
        return [p for name, p in self.named_parameters() if not (self.new_conv1 and name.startswith("net.conv1."))]

    def forward(self, x):
        return self.net(x)

    def default_head(self, num_classes: int) -> nn.Module:
        """A linear label classifier on the pooled features."""
        return nn.Linear(self.out_features, num_classes)


def build_resnet(arch: str, input_shape: tuple[int, ...], weights: str | None) -> ResNetBackbone:
    """``torchvision.models.<arch>`` with random init, optional local weights, any channel count."""
    channels = image_channels(arch, input_shape)
    try:
        from torchvision import models
    except ImportError:
        raise ImportError(f"backbone '{arch}' needs torchvision: pip install torchvision") from None
    net = getattr(models, arch)(weights=None)
    if weights is not None:
        _load_local_weights(arch, net, str(weights))
    if channels != 3:
        old = net.conv1
        net.conv1 = nn.Conv2d(channels, old.out_channels, old.kernel_size, old.stride, old.padding, bias=False)
    return ResNetBackbone(net, pretrained=weights is not None, new_conv1=channels != 3)


def _load_local_weights(arch: str, net: nn.Module, path: str) -> None:
    if not os.path.isfile(path):
        raise FileNotFoundError(f"backbone '{arch}' weights file not found: '{path}' (weights are never downloaded)")
    mismatch = f"backbone '{arch}' weights '{path}' do not match a {arch} state_dict"
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        reason = type(exc).__name__
        raise ValueError(f"backbone '{arch}' cannot read weights '{path}' as a saved state_dict: {reason}") from None
    if isinstance(state, dict) and "state_dict" in state:
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise ValueError(f"{mismatch}: the file holds a {type(state).__name__}, not a dict of tensors")
    state = {key.removeprefix("module."): value for key, value in state.items()}
    state = {key: value for key, value in state.items() if not key.startswith("fc.")}
    try:
        missing, unexpected = net.load_state_dict(state, strict=False)
    except RuntimeError as exc:
        first = next((line.strip() for line in str(exc).splitlines() if "size mismatch" in line), "shape mismatch")
        raise ValueError(f"{mismatch}: {first}") from None
    missing = [key for key in missing if not key.startswith("fc.")]
    if missing or unexpected:
        problem = f"missing {missing[:3]}" if missing else f"unexpected {unexpected[:3]}"
        raise ValueError(f"{mismatch}: {problem}")


def make_resnet18(input_shape: tuple[int, ...], weights: Path | None = None) -> ResNetBackbone:
    """torchvision ResNet-18 features (512), random init; needs torchvision.

    Options:
      weights: path to a local state_dict file to load (fc.* keys ignored); never downloaded.
    """
    return build_resnet("resnet18", tuple(input_shape), weights)


def make_resnet50(input_shape: tuple[int, ...], weights: Path | None = None) -> ResNetBackbone:
    """torchvision ResNet-50 features (2048), random init; needs torchvision.

    Options:
      weights: path to a local state_dict file to load (fc.* keys ignored); never downloaded.
    """
    return build_resnet("resnet50", tuple(input_shape), weights)
