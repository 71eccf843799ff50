"""The built-in discriminator: binary and K-way logits, options, gradients (CDAN's map: builtins/test_method_plugins.py)."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from dann_core.plugins import get_plugin_manager, get_registry


@pytest.fixture(scope="module")
def registry():
    return get_registry(get_plugin_manager(autoload=False))


def build(registry, name, in_features=6, num_domains=2, **options):
    return registry.build("discriminator", name, options, in_features=in_features, num_domains=num_domains)


def linear_widths(module: nn.Module) -> list[int]:
    return [layer.out_features for layer in module.modules() if isinstance(layer, nn.Linear)]


@pytest.mark.parametrize(("num_domains", "width"), [(2, 1), (3, 3), (5, 5)])
def test_logit_shapes(registry, num_domains, width):
    head = build(registry, "mlp", num_domains=num_domains, hidden="8")
    assert head(torch.randn(4, 6)).shape == (4, width)


def test_mlp_options(registry):
    assert linear_widths(build(registry, "mlp")) == [100, 1]
    assert linear_widths(build(registry, "mlp", hidden="1024,1024")) == [1024, 1024, 1]
    assert linear_widths(build(registry, "mlp", hidden="")) == [1]
    head = build(registry, "mlp", hidden="4,4", dropout="0.5")
    assert sum(isinstance(m, nn.Dropout) and m.p == 0.5 for m in head.modules()) == 2
    assert not any(isinstance(m, nn.Dropout) for m in build(registry, "mlp").modules())
    with pytest.raises(ValueError, match="discriminator dropout must be in \\[0, 1\\), got 1.0"):
        build(registry, "mlp", dropout=1.0)
    with pytest.raises(ValueError, match="a discriminator needs num_domains >= 2, got 1"):
        build(registry, "mlp", num_domains=1)


def test_gradients_reach_the_features(registry):
    features = torch.randn(4, 6, requires_grad=True)
    build(registry, "mlp", hidden="5")(features).sum().backward()
    assert features.grad is not None and features.grad.abs().sum() > 0
