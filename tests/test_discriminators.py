"""The built-in discriminators: binary and K-way logits, options, and CDAN's multilinear map."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from dann_core.plugins import get_plugin_manager, get_registry


@pytest.fixture(scope="module")
def registry():
    return get_registry(get_plugin_manager(autoload=False))


def build(registry, name, in_features=6, num_domains=2, num_classes=3, **options):
    return registry.build(
        "discriminator", name, options, in_features=in_features, num_domains=num_domains, num_classes=num_classes
    )


def linear_widths(module: nn.Module) -> list[int]:
    return [layer.out_features for layer in module.modules() if isinstance(layer, nn.Linear)]


@pytest.mark.parametrize("name", ["mlp", "conditional"])
@pytest.mark.parametrize(("num_domains", "width"), [(2, 1), (3, 3), (5, 5)])
def test_logit_shapes(registry, name, num_domains, width):
    head = build(registry, name, num_domains=num_domains, hidden="8")
    probs = torch.softmax(torch.randn(4, 3), dim=1)
    assert head(torch.randn(4, 6), probs).shape == (4, width)
    assert head.conditional == (name == "conditional")


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


def test_mlp_ignores_class_probs(registry):
    head = build(registry, "mlp", hidden="4")
    features = torch.randn(5, 6)
    assert torch.equal(head(features), head(features, torch.rand(5, 3)))


def test_conditional_uses_the_outer_product(registry):
    head = build(registry, "conditional", hidden="", dropout=0.0)
    features, probs = torch.randn(4, 6), torch.softmax(torch.randn(4, 3), dim=1)
    outer = torch.einsum("nc,nf->ncf", probs, features).reshape(4, 18)
    assert head.layers[0].in_features == 18
    assert torch.allclose(head(features, probs), head.layers[0](outer), atol=1e-6)
    # the prediction matters: other class probabilities give other logits
    assert not torch.allclose(head(features, probs), head(features, probs.flip(1)))


def test_conditional_random_multilinear_map(registry):
    head = build(registry, "conditional", random_dim="16", hidden="8")
    features, probs = torch.randn(4, 6), torch.softmax(torch.randn(4, 3), dim=1)
    expected = (features @ head.feature_projection) * (probs @ head.class_projection) / 4.0
    assert torch.allclose(head.multilinear_map(features, probs), expected)
    assert head.layers[0].in_features == 16
    assert {"feature_projection", "class_projection"} <= set(head.state_dict())
    assert not any(p.shape == head.feature_projection.shape for p in head.parameters())


def test_conditional_errors(registry):
    head = build(registry, "conditional", hidden="4")
    with pytest.raises(ValueError, match="conditional discriminator needs class_probs"):
        head(torch.randn(2, 6))
    with pytest.raises(ValueError, match="class_probs must have shape \\(2, 3\\), got \\(2, 4\\)"):
        head(torch.randn(2, 6), torch.rand(2, 4))
    with pytest.raises(ValueError, match="random_dim must be >= 0"):
        build(registry, "conditional", random_dim=-1)


def test_gradients_reach_the_features(registry):
    for name in ("mlp", "conditional"):
        features = torch.randn(4, 6, requires_grad=True)
        build(registry, name, hidden="5")(features, torch.softmax(torch.randn(4, 3), dim=1)).sum().backward()
        assert features.grad is not None and features.grad.abs().sum() > 0
