"""The compared methods' losses against direct formulas (values and gradients), and composing
regularisers onto adversarial methods by settings (``method.plus``)."""
from __future__ import annotations

import dataclasses
import pytest
import torch

from dann_methods.afn import feature_norm_loss
from dann_methods.bsp import spectral_penalty
from dann_methods.dan import mk_mmd
from dann_methods.jan import joint_mmd
from dann_methods.mcc import class_confusion_loss
from dann_methods.mcd import discrepancy
from dann_methods.mdd import margin_disparity_loss
from dann_core.methods import REGULARIZERS, Batch, build_regularizers, parse_plus
from dann_core.plugins import InvalidOptionError, get_plugin_manager, get_registry
from dann_core.train import Trainer
from tests.paths import ROOT

def leaf(*shape, seed=0, scale=1.0):
    """A float64 input (the direct formulas loop in Python: compare in double precision)."""
    return (torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64) * scale).requires_grad_(True)


def same_value_and_grad(fast, direct, *inputs, upstream=1.7):
    """fast(*inputs) == direct(*inputs), and so are their gradients (a non-unit upstream gradient)."""
    a, b = fast(*inputs), direct(*inputs)
    torch.testing.assert_close(a, b)
    ga = torch.autograd.grad(a * upstream, inputs)
    gb = torch.autograd.grad(b * upstream, inputs)
    for x, y in zip(ga, gb):
        torch.testing.assert_close(x, y)


def test_mcc_matches_the_papers_formula_row_by_row():
    def direct(z, temperature=2.5):
        n, c = z.shape
        p = torch.softmax(z / temperature, dim=1)
        h = [-(p[i] * p[i].log()).sum().detach() for i in range(n)]
        w = [1 + torch.exp(-hi) for hi in h]
        total = sum(w)
        w = [n * wi / total for wi in w]
        conf = [[sum(w[i] * p[i, j] * p[i, k] for i in range(n)) for k in range(c)] for j in range(c)]
        conf = [[conf[j][k] / sum(conf[j]) for k in range(c)] for j in range(c)]
        return sum(conf[j][k] for j in range(c) for k in range(c) if j != k) / c

    same_value_and_grad(lambda z: class_confusion_loss(z, 2.5), direct, leaf(6, 4, scale=3))


def test_bsp_is_the_top_squared_singular_values_and_its_gradient_is_2_sigma_u_v():
    f = leaf(7, 5)
    loss = spectral_penalty(f, k=1)
    u, s, vh = torch.linalg.svd(f.detach(), full_matrices=False)
    torch.testing.assert_close(loss, s[0] ** 2, check_dtype=False)
    (grad,) = torch.autograd.grad(loss, f)
    torch.testing.assert_close(grad, (2 * s[0] * torch.outer(u[:, 0], vh[0])).to(grad.dtype), atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(spectral_penalty(f, k=2), (s[:2] ** 2).sum().float(), atol=1e-4, rtol=1e-5)


def test_afn_stepwise_and_hard_against_their_formulas():
    f = leaf(5, 3)
    # stepwise: every row's target is its own (detached) norm plus Δr: value Δr², gradient −2Δr/N · f/‖f‖
    loss = feature_norm_loss(f, delta=0.7)
    (grad,) = torch.autograd.grad(loss, f)
    torch.testing.assert_close(loss, torch.tensor(0.49, dtype=torch.float64))
    torch.testing.assert_close(grad, -2 * 0.7 / 5 * f.detach() / f.detach().norm(dim=1, keepdim=True))
    same_value_and_grad(lambda x: feature_norm_loss(x, radius=4.0),
                        lambda x: (sum(x[i].pow(2).sum().sqrt() for i in range(5)) / 5 - 4.0) ** 2, f)


def _gaussian_mmd_direct(zs, zt, kernel):
    ns, nt = len(zs), len(zt)
    ss = sum(kernel(zs[i], zs[j]) for i in range(ns) for j in range(ns) if i != j) / (ns * (ns - 1))
    tt = sum(kernel(zt[i], zt[j]) for i in range(nt) for j in range(nt) if i != j) / (nt * (nt - 1))
    st = sum(kernel(zs[i], zt[j]) for i in range(ns) for j in range(nt)) / (ns * nt)
    return ss + tt - 2 * st


def _bandwidth(z):
    return torch.cdist(z, z).pow(2).mean().detach()


def test_mk_mmd_against_the_pairwise_sum_of_gaussian_kernels():
    scales = (0.5, 1.0, 2.0)

    def direct(zs, zt):
        base = _bandwidth(torch.cat([zs, zt]))
        return _gaussian_mmd_direct(zs, zt, lambda a, b: sum(torch.exp(-(a - b).pow(2).sum() / (2 * s * base)) for s in scales))

    same_value_and_grad(lambda a, b: mk_mmd(a, b, scales), direct, leaf(4, 3, seed=1), leaf(5, 3, seed=2) + 0.5)


def test_jmmd_multiplies_the_feature_kernels_by_a_kernel_on_the_predictions():
    scales, sigma = (0.5, 2.0), 0.92

    def direct(fs, ft, ls, lt):
        base = _bandwidth(torch.cat([fs, ft]))
        z = torch.cat([torch.cat([fs, ft]), torch.softmax(torch.cat([ls, lt]), dim=1)], dim=1)
        d = fs.shape[1]

        def kernel(a, b):
            features = sum(torch.exp(-(a[:d] - b[:d]).pow(2).sum() / (2 * s * base)) for s in scales)
            return features * torch.exp(-(a[d:] - b[d:]).pow(2).sum() / (2 * sigma**2))

        return _gaussian_mmd_direct(z[: len(fs)], z[len(fs) :], kernel)

    inputs = leaf(4, 3, seed=3), leaf(4, 3, seed=4), leaf(4, 2, seed=5), leaf(4, 2, seed=6)
    same_value_and_grad(lambda *x: joint_mmd(*x, scales=scales, sigma=sigma), direct, *inputs)


def test_mdd_against_its_per_row_definition():
    def direct(ys, ys_adv, yt, yt_adv, margin=3.0):
        source = sum(-torch.log_softmax(ys_adv[i], 0)[ys[i].argmax()] for i in range(len(ys))) / len(ys)
        target = sum(-torch.log(1 - torch.softmax(yt_adv[i], 0)[yt[i].argmax()] + 1e-6) for i in range(len(yt))) / len(yt)
        return margin * source + target

    ys, yt = leaf(5, 3, seed=7).detach(), leaf(6, 3, seed=9).detach()  # the main head only gives ŷ (no gradient)
    same_value_and_grad(lambda a, b: margin_disparity_loss(ys, a, yt, b, margin=3.0), lambda a, b: direct(ys, a, yt, b),
                        leaf(5, 3, seed=8), leaf(6, 3, seed=10))


def test_mcd_discrepancy_is_the_mean_absolute_difference_of_probabilities():
    def direct(a, b):
        return sum((torch.softmax(a[i], 0) - torch.softmax(b[i], 0)).abs().sum() for i in range(len(a))) / a.numel()

    same_value_and_grad(discrepancy, direct, leaf(4, 3, seed=11), leaf(4, 3, seed=12))


# ---------------------------------------------------------------------------------- composition


@pytest.fixture
def registry():
    return get_registry(get_plugin_manager(autoload=False))


def test_first_party_regularisers_are_registered_and_parse_from_plus():
    get_registry(get_plugin_manager(autoload=False))  # the built-in methods' hook registers them
    assert {"mcc", "bsp", "afn"} <= set(REGULARIZERS)
    assert parse_plus("mcc, bsp") == parse_plus("mcc+bsp") == ["mcc", "bsp"]
    assert parse_plus("") == []


@pytest.mark.parametrize("plus, message", [
    ("mcc,nope", "unknown regulariser 'nope' in method option plus; known regularisers: afn, bsp, mcc"),
    ("mcc,mcc", "names a regulariser twice"),
])
def test_a_bad_plus_is_one_line_naming_the_known_regularisers(plus, message):
    with pytest.raises(ValueError, match=message) as info:
        parse_plus(plus)
    assert "\n" not in str(info.value)


def test_an_option_of_a_regulariser_not_in_plus_is_one_line_saying_so():
    with pytest.raises(ValueError, match=r"method option 'bsp_k' applies only with plus=bsp \(plus is 'mcc'\); add bsp to plus \(plus=mcc,bsp\) or drop it"):
        build_regularizers("mcc", {"bsp_k": 2})
    with pytest.raises(ValueError, match="'zzz_k' belongs to no regulariser; known regularisers: afn, bsp, mcc"):
        build_regularizers("mcc", {"zzz_k": 2})


def test_regulariser_options_are_method_options_from_the_command_line(tiny_config, registry):
    spec = registry.get("method", "cdan")
    assert spec.options["plus"] == "" and spec.options["mcc_temperature"] == 2.5 and spec.options["bsp_weight"] == 1e-4
    cfg = dataclasses.replace(tiny_config, method="cdan", method_options={"plus": "mcc+afn", "mcc_temperature": "1.5", "afn_radius": "3"})
    method = Trainer(cfg, registry=registry).method
    assert list(method.regularizers) == ["mcc", "afn"]
    assert method.regularizers["mcc"].temperature == 1.5 and method.regularizers["afn"].radius == 3.0
    with pytest.raises(InvalidOptionError, match="method 'cdan' option 'mcc_temperature' expects a float"):
        Trainer(dataclasses.replace(cfg, method_options={"plus": "mcc", "mcc_temperature": "warm"}), registry=registry)
    with pytest.raises(ValueError, match="unknown regulariser 'mc'"):
        Trainer(dataclasses.replace(cfg, method_options={"plus": "mc"}), registry=registry)
    with pytest.raises(ValueError, match="bad mcc temperature 0.0"):
        Trainer(dataclasses.replace(cfg, method_options={"plus": "mcc", "mcc_temperature": 0}), registry=registry)


def test_dann_plus_mcc_bsp_is_dann_loss_plus_the_weighted_terms(tiny_config, registry):
    options = {"plus": "mcc,bsp", "mcc_weight": 0.5, "bsp_weight": 0.01}
    method = Trainer(dataclasses.replace(tiny_config, method="dann", method_options=options), registry=registry).method
    torch.manual_seed(0)
    x = torch.randn(16, 2)
    batch = Batch(source_x=x[:8], source_y=torch.arange(8) % 2, target_x=x[8:] + 1)
    loss, metrics = method.objective(batch)
    step = method.forward_step(batch)
    dann, _ = method.dann_loss(step)
    expected = dann + 0.5 * class_confusion_loss(step.target_logits()) + 0.01 * (
        spectral_penalty(step.source_features) + spectral_penalty(step.target_features))
    torch.testing.assert_close(loss, expected)
    assert {"mcc_loss", "bsp_loss", "domain_loss", "label_loss"} <= set(metrics)


def test_the_bsp_method_is_dann_plus_bsp_and_refuses_bsp_twice(tiny_config, registry):
    method = Trainer(dataclasses.replace(tiny_config, method="bsp", method_options={"k": 2, "plus": "mcc"}), registry=registry).method
    assert list(method.regularizers) == ["bsp", "mcc"] and method.regularizers["bsp"].k == 2
    with pytest.raises(ValueError, match="method 'bsp' adds bsp itself: drop bsp from plus"):  # refused when the config is checked
        Trainer(dataclasses.replace(tiny_config, method="bsp", method_options={"plus": "bsp"}), registry=registry)


def test_moons_dann_lambda_does_not_reach_mdds_reversal(registry):
    from dann_core import config

    cfg = config.resolve(flags={"method": "mdd"}, registry=registry)
    assert "lambda" not in cfg.method_options and "reversal" in registry.get("method", "mdd").options


CITED = {"mcc": "Jin", "mdd": "Zhang", "dan": "Long", "jan": "Long", "mcd": "Saito", "adda": "Tzeng", "bsp": "Chen", "afn": "Xu"}
YEARS = {"mcc": "2020", "mdd": "2019", "dan": "2015", "jan": "2017", "mcd": "2018", "adda": "2017", "bsp": "2019", "afn": "2019"}


@pytest.mark.parametrize("name", sorted(CITED))
def test_each_method_is_one_short_file_citing_its_paper_and_using_public_api_only(name):
    import importlib
    import re
    from pathlib import Path

    module = importlib.import_module(f"dann_methods.{name}")
    source = Path(module.__file__).read_text()
    assert CITED[name] in module.__doc__ and YEARS[name] in module.__doc__
    assert len(source.splitlines()) <= 150
    imported = set(re.findall(r"^from (dann_core[\w.]*) import", source, flags=re.M))
    assert imported <= {"dann_core", "dann_core.methods", "dann_core.nn", "dann_core.ops", "dann_core.schedules"}, imported


def test_a_composition_is_a_table_entry_with_plus_joined_by_a_plus_sign(tiny_config, registry):
    from dann_evaluation.tables import method_config, parse_methods

    (entry,) = parse_methods("cdan[plus=mcc+bsp,mcc_weight=0.5]", registry)
    cfg = method_config(tiny_config, entry, registry)
    method = Trainer(cfg, registry=registry).method
    assert list(method.regularizers) == ["mcc", "bsp"] and method.regularizers["mcc"].weight == 0.5


def test_the_regulariser_example_in_docs_methods_works(monkeypatch, tiny_config):
    import re

    from dann_core import methods
    from dann_core.methods import composable
    from dann_core.specs import ComponentSpec
    from dann_methods.dann import DANN

    monkeypatch.setattr(methods.plus, "REGULARIZERS", dict(REGULARIZERS))
    page = (ROOT / "docs" / "methods.md").read_text()
    (block,) = [b for b in re.findall(r"^```python\n(.*?)^```$", page, flags=re.S | re.M) if "register_regularizer(" in b]
    exec(compile(block, "docs/methods.md", "exec"), {})
    assert composable(ComponentSpec.from_factory("dann", DANN)).options["ent_weight"] == 0.1
    method = Trainer(dataclasses.replace(tiny_config, method="dann"), registry=get_registry(get_plugin_manager(autoload=False))).method
    method.regularizers = build_regularizers("ent", {"ent_weight": 0.3})
    x = torch.randn(8, 2)
    loss, metrics = method.objective(Batch(source_x=x[:4], source_y=torch.tensor([0, 1, 0, 1]), target_x=x[4:]))
    assert "ent_loss" in metrics and torch.isfinite(loss)
