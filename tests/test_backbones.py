"""The built-in backbones: feature shapes, the paper's heads, channel handling, local weights only."""
from __future__ import annotations

import sys

import pytest
import torch
from torch import nn

from dann_core.plugins import ComponentError, get_plugin_manager, get_registry


@pytest.fixture(scope="module")
def registry():
    return get_registry(get_plugin_manager(autoload=False))


def build(registry, name, input_shape, **options):
    return registry.build("backbone", name, options, input_shape=input_shape)


def linear_widths(module: nn.Module) -> list[int]:
    return [layer.out_features for layer in module.modules() if isinstance(layer, nn.Linear)]


@pytest.mark.parametrize(
    ("name", "input_shape", "out_features"),
    [
        ("mlp", (2,), 15),
        ("mlp", (1, 5, 5), 15),
        ("lenet", (3, 28, 28), 768),
        ("lenet", (1, 28, 28), 768),
        ("lenet", (3, 32, 32), 48 * 5 * 5),
        ("svhn-net", (3, 32, 32), 128 * 7 * 7),
        ("svhn-net", (1, 28, 28), 128 * 6 * 6),
        ("resnet18", (3, 32, 32), 512),
        ("resnet18", (1, 32, 32), 512),
        ("resnet50", (3, 32, 32), 2048),
    ],
)
def test_features_and_head_shapes(registry, name, input_shape, out_features):
    backbone = build(registry, name, input_shape)
    assert backbone.out_features == out_features
    features = backbone(torch.randn(3, *input_shape))
    assert features.shape == (3, out_features)
    assert backbone.default_head(7)(features).shape == (3, 7)


def test_paper_heads(registry):
    assert linear_widths(build(registry, "lenet", (3, 28, 28)).default_head(10)) == [100, 100, 10]
    assert linear_widths(build(registry, "svhn-net", (3, 32, 32)).default_head(10)) == [3072, 2048, 10]
    assert linear_widths(build(registry, "mlp", (2,)).default_head(2)) == [2]
    assert linear_widths(build(registry, "resnet18", (3, 32, 32)).default_head(31)) == [31]


def test_lenet_is_the_paper_architecture(registry):
    convs = [m for m in build(registry, "lenet", (3, 28, 28)).modules() if isinstance(m, nn.Conv2d)]
    assert [(c.in_channels, c.out_channels, c.kernel_size) for c in convs] == [(3, 32, (5, 5)), (32, 48, (5, 5))]


def test_mlp_options(registry):
    backbone = build(registry, "mlp", (4,), width="8", depth="3", activation="relu")
    assert linear_widths(backbone) == [8, 8, 8]
    assert sum(isinstance(m, nn.ReLU) for m in backbone.modules()) == 3
    assert sum(isinstance(m, nn.Sigmoid) for m in build(registry, "mlp", (4,)).modules()) == 1
    with pytest.raises(ValueError, match="activation must be one of sigmoid, relu, tanh, got 'gelu'"):
        build(registry, "mlp", (4,), activation="gelu")


def test_image_backbones_reject_flat_or_tiny_inputs(registry):
    with pytest.raises(ValueError, match="backbone 'lenet' needs image inputs of shape \\(C, H, W\\), got input_shape \\(2,\\)"):
        build(registry, "lenet", (2,))
    with pytest.raises(ValueError, match="backbone 'lenet' cannot take input_shape \\(3, 8, 8\\)"):
        build(registry, "lenet", (3, 8, 8))


def test_resnet_loads_a_local_state_dict(registry, tmp_path):
    source = build(registry, "resnet18", (3, 32, 32))
    state = {f"module.{key}": value for key, value in source.net.state_dict().items()}
    state["fc.weight"] = torch.zeros(1000, 512)  # an ImageNet-style file still carries its classifier
    path = tmp_path / "r18.pt"
    torch.save(state, path)
    loaded = build(registry, "resnet18", (3, 32, 32), weights=str(path))
    assert torch.equal(loaded.net.conv1.weight, source.net.conv1.weight)
    assert not torch.equal(build(registry, "resnet18", (3, 32, 32)).net.conv1.weight, source.net.conv1.weight)


def test_resnet_weights_errors(registry, tmp_path):
    missing = "backbone 'resnet50' weights file not found: '.*missing.pt' \\(weights are never downloaded\\)"
    with pytest.raises(FileNotFoundError, match=missing):
        build(registry, "resnet50", (3, 32, 32), weights=str(tmp_path / "missing.pt"))
    torch.save(build(registry, "resnet18", (3, 32, 32)).net.state_dict(), tmp_path / "r18.pt")
    with pytest.raises(ValueError, match="weights '.*r18.pt' do not match a resnet50 state_dict"):
        build(registry, "resnet50", (3, 32, 32), weights=str(tmp_path / "r18.pt"))


def test_resnet_without_torchvision_names_the_install(registry, monkeypatch):
    monkeypatch.setitem(sys.modules, "torchvision", None)
    assert "resnet18" in registry.backbones
    with pytest.raises(ComponentError, match="^backbone 'resnet18' of plugin 'backbones' .*needs torchvision: pip install torchvision$"):
        build(registry, "resnet18", (3, 32, 32))
