"""build_networks assembles backbone + paper head and the discriminator factory; the DANN forward works on them."""
from __future__ import annotations

import importlib

import pytest
import torch

from dann_core import ops
from dann_core.model import DANNModel, build_networks
from dann_core.plugins import ComponentError, InvalidOptionError, get_plugin_manager, get_registry
from dann_core.specs import DomainData, Split
from tests.paths import TEST_PLUGINS


@pytest.fixture(scope="module")
def registry():
    return get_registry(get_plugin_manager(autoload=False))


def fake_data(input_shape, num_classes=10, n=4):
    split = Split(torch.randn(n, *input_shape), torch.arange(n) % num_classes)
    return DomainData(split, split, split, split, num_classes=num_classes, input_shape=input_shape)


def build_model(registry, data, backbone, discriminator, backbone_options, discriminator_options, num_domains=2):
    features, head, make_discriminator = build_networks(
        registry, data, backbone, discriminator, backbone_options, discriminator_options, num_domains
    )
    return DANNModel(features, head, make_discriminator(features.out_features))


def test_build_model_on_moons(registry):
    data = registry.build("dataset", "moons", {"n_per_class": 4}, seed=0)
    model = build_model(registry, data, "mlp", "mlp", {"width": "9"}, {"hidden": ""})
    assert isinstance(model, DANNModel)
    assert model.backbone.out_features == 9
    assert model.predict(data.target_test.x).shape == (len(data.target_test), 2)
    assert torch.equal(model.predict(data.source_val.x), model(data.source_val.x))


def test_build_model_lenet_k_way(registry):
    data = fake_data((3, 28, 28))
    model = build_model(registry, data, "lenet", "mlp", {}, {"hidden": "16"}, num_domains=3)
    assert model.discriminator(model.backbone(data.source_train.x)).shape == (4, 3)


def test_discriminator_options_are_checked_before_any_is_built(registry):
    with pytest.raises(InvalidOptionError, match="unknown option 'hiden' for discriminator 'mlp'"):
        build_networks(registry, fake_data((2,)), "mlp", "mlp", {}, {"hiden": "3"})


def test_build_model_validates_options(registry):
    with pytest.raises(InvalidOptionError, match="unknown option 'widht' for backbone 'mlp'; did you mean 'width'"):
        build_model(registry, fake_data((2,)), "mlp", "mlp", {"widht": 3}, {})


def test_trainer_forward_reverses_only_the_domain_gradient(registry):
    data = fake_data((2,), num_classes=2)
    model = build_model(registry, data, "mlp", "mlp", {"activation": "relu"}, {"hidden": ""})
    xs, xt = data.source_train.x, data.target_train.x + 1.0

    def backbone_grad(lam: float, use_class: bool, use_domain: bool) -> torch.Tensor:
        model.zero_grad()
        f = model.backbone(torch.cat([xs, xt]))
        f_label, f_dom = ops.split_reverse(f, len(xs), torch.tensor(lam))
        loss = torch.zeros(())
        if use_class:
            loss = loss + model.classifier(f_label).logsumexp(1).sum()
        if use_domain:
            loss = loss + model.discriminator(f_dom).sum()
        loss.backward()
        return model.backbone.layers[1].weight.grad.clone()

    domain_only = backbone_grad(0.5, False, True)
    class_only = backbone_grad(0.5, True, False)
    assert domain_only.abs().sum() > 0 and class_only.abs().sum() > 0
    assert torch.allclose(backbone_grad(0.5, True, True), class_only + domain_only, atol=1e-6)
    assert torch.allclose(backbone_grad(1.0, False, True), 2 * domain_only, atol=1e-6)
    # and it is reversed: the plain gradient of the domain loss points the other way
    model.zero_grad()
    model.discriminator(model.backbone(torch.cat([xs, xt]))).sum().backward()
    assert torch.allclose(model.backbone.layers[1].weight.grad, -2 * domain_only, atol=1e-6)


def test_backbone_without_a_head_is_named(registry, monkeypatch):
    monkeypatch.syspath_prepend(str(TEST_PLUGINS))
    pm = get_plugin_manager(autoload=False)
    pm.register(importlib.import_module("dann_testplugin_bad").HeadlessBackbone(), name="headless")
    with pytest.raises(ComponentError, match="backbone 'headless' of plugin 'headless' returned a Flatten without a default_head"):
        build_model(get_registry(pm), fake_data((2,)), "headless", "mlp", {}, {})
