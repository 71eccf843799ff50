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


def parameter_count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_resnet_with_weights_marks_its_parameters_pretrained_and_asks_for_imagenet_inputs(registry, tmp_path):
    torch.save(build(registry, "resnet18", (3, 32, 32)).net.state_dict(), tmp_path / "r18.pt")
    loaded = build(registry, "resnet18", (3, 32, 32), weights=str(tmp_path / "r18.pt"))
    assert {id(p) for p in loaded.pretrained_parameters()} == {id(p) for p in loaded.parameters()}
    assert loaded.input_normalization == "imagenet"
    scratch = build(registry, "resnet18", (3, 32, 32))
    assert scratch.pretrained_parameters() == [] and scratch.input_normalization is None
    grey = build(registry, "resnet18", (1, 32, 32), weights=str(tmp_path / "r18.pt"))  # a new first conv: not loaded
    assert {id(p) for p in grey.pretrained_parameters()} == {id(p) for n, p in grey.named_parameters() if not n.startswith("net.conv1.")}
    assert grey.input_normalization is None
    assert registry.get("backbone", "resnet50").init_options == {"weights"}


@pytest.mark.parametrize("name", ["mlp", "lenet", "svhn-net"])
def test_backbones_without_weights_declare_nothing_pretrained(registry, name):
    backbone = build(registry, name, (2,) if name == "mlp" else (3, 32, 32))
    assert list(getattr(backbone, "pretrained_parameters", list)()) == []
    assert getattr(backbone, "input_normalization", None) is None


SVHN_NET_PARAMETERS = (3 * 64 * 25 + 64) + (64 * 64 * 25 + 64) + (64 * 128 * 25 + 128)
SVHN_HEAD_PARAMETERS = (6272 * 3072 + 3072) + (3072 * 2048 + 2048) + (2048 * 10 + 10)


def test_svhn_net_is_the_paper_network_at_32_px(registry):
    backbone = build(registry, "svhn-net", (3, 32, 32))
    assert not any(isinstance(m, nn.AdaptiveAvgPool2d) for m in backbone.modules())  # the paper's layers, nothing more
    assert parameter_count(backbone) == SVHN_NET_PARAMETERS
    assert parameter_count(backbone.default_head(10)) == SVHN_HEAD_PARAMETERS


@pytest.mark.parametrize("size", [64, 128, 224])
def test_svhn_net_pools_larger_inputs_to_the_papers_grid(registry, size):
    backbone = build(registry, "svhn-net", (3, size, size))
    assert backbone.out_features == 128 * 7 * 7
    assert parameter_count(backbone) == SVHN_NET_PARAMETERS
    assert parameter_count(backbone.default_head(10)) == SVHN_HEAD_PARAMETERS  # ≈ 26M: 0.1 GB of weights, not 1.5 GB at 128 px
    assert backbone(torch.randn(2, 3, size, size)).shape == (2, 6272)
    assert build(registry, "svhn-net", (3, 40, 33)).out_features == 128 * 7 * 7
