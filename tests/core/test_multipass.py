"""Helpers for steps with extra forwards: full_precision turns the run's autocast off for a block,
frozen_bn_stats keeps batch-norm running statistics, and a VAT-like method uses both under bf16."""
from __future__ import annotations

import copy
import dataclasses

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from dann_core import hookimpl
from dann_core.domain_norm import domain_rows, per_domain_batch_norm
from dann_core.methods import SOURCE, TARGET, Method, accuracy, frozen_bn_stats, full_precision
from dann_core.specs import ComponentSpec
from dann_core.testing import registry_with, tiny_config
from dann_core.train import train
from tests.paths import ROOT


def test_full_precision_computes_in_float32_inside_a_bf16_autocast_region_and_restores_it():
    layer, x = nn.Linear(4, 3), torch.randn(5, 4)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert layer(x).dtype == torch.bfloat16
        with full_precision():
            assert not torch.is_autocast_enabled("cpu")
            assert layer(x).dtype == torch.float32
        assert torch.is_autocast_enabled("cpu") and layer(x).dtype == torch.bfloat16
    with full_precision():  # no autocast: nothing to turn off
        assert layer(x).dtype == torch.float32


def _net(per_domain: bool = False) -> nn.Module:
    net = nn.Sequential(nn.Linear(4, 6), nn.BatchNorm1d(6), nn.ReLU(), nn.Linear(6, 3), nn.BatchNorm1d(3, momentum=None))
    return per_domain_batch_norm(net) if per_domain else net


def _buffers(net: nn.Module) -> dict[str, torch.Tensor]:
    return {name: value.clone() for name, value in net.named_buffers()}


@pytest.mark.parametrize("per_domain", [False, True], ids=["batchnorm", "per-domain"])
def test_frozen_bn_stats_keeps_running_statistics_and_the_train_mode_output(per_domain):
    torch.manual_seed(0)
    net = _net(per_domain)
    net(torch.randn(16, 4))  # running statistics away from their initial values
    before, twin = _buffers(net), copy.deepcopy(net)
    x = torch.randn(8, 4, requires_grad=True)
    with frozen_bn_stats(net):
        y = net(x)
    after = _buffers(net)
    assert after.keys() == before.keys() and all(torch.equal(after[k], before[k]) for k in before), \
        [k for k in before if not torch.equal(after[k], before[k])]
    assert torch.equal(y, twin(x))  # train mode: normalised by the batch's statistics, as without the block
    y.square().sum().backward()  # a backward after the block (VAT's gradient) works
    assert x.grad is not None
    bn = net[1]
    assert bn.track_running_stats and bn.momentum == 0.1 and net[4].momentum is None  # settings restored
    net(torch.randn(8, 4))  # outside the block the statistics move again
    assert not torch.equal(net[1].running_mean, before["1.running_mean"])
    assert int(net[1].num_batches_tracked) > int(before["1.num_batches_tracked"])


def test_frozen_bn_stats_in_eval_mode_normalises_by_the_running_statistics_and_restores_after_an_error():
    torch.manual_seed(1)
    net = _net()
    net(torch.randn(16, 4))
    net.eval()
    x = torch.randn(8, 4)
    expected = net(x)
    with frozen_bn_stats(net):
        assert torch.equal(net(x), expected)
    net.train()
    with pytest.raises(RuntimeError, match="inside"):
        with frozen_bn_stats(net):
            raise RuntimeError("inside")
    assert net[1].track_running_stats


def test_per_domain_layers_split_rows_inside_the_block_and_keep_both_domains_statistics():
    torch.manual_seed(2)
    net = _net(per_domain=True)
    net(torch.randn(16, 4))
    before, twin = _buffers(net), copy.deepcopy(net)
    x = torch.randn(10, 4)
    with domain_rows(net, 4, 6), frozen_bn_stats(net):
        y = net(x)
    with domain_rows(twin, 4, 6):
        expected = twin(x)
    assert torch.equal(y, expected)
    assert all(torch.equal(value, before[name]) for name, value in net.named_buffers())


class VatLike(Method):
    """Source cross-entropy plus a VAT-style smoothness term on target rows: a tiny perturbation, an
    extra forward with frozen statistics in full precision, and torch.autograd.grad inside objective."""

    needs = frozenset({SOURCE, TARGET})
    seen: list = []

    def objective(self, batch):
        model = self.model
        logits = model(batch.source_x)
        target_logits = model(batch.target_x)
        with full_precision(), frozen_bn_stats(model):
            x = batch.target_x.float()
            d = (1e-6 * torch.randn_like(x)).requires_grad_()
            log_p = F.log_softmax(model(x + d), dim=1)
            divergence = F.kl_div(log_p, F.softmax(target_logits.float().detach(), dim=1), reduction="batchmean")
            grad, = torch.autograd.grad(divergence, d)
            VatLike.seen.append((logits.dtype, log_p.dtype, bool(grad.abs().sum() > 0)))
            adversarial = F.normalize(grad.flatten(1), dim=1).view_as(x) * 0.5
            vat = F.kl_div(F.log_softmax(model(x + adversarial), dim=1), F.softmax(target_logits.float().detach(), dim=1), reduction="batchmean")
        loss = F.cross_entropy(logits.float(), batch.source_y) + vat
        return loss, {"label_loss": loss.detach(), "train_acc": accuracy(logits, batch.source_y)}


class _Plugin:
    @hookimpl
    def register_methods(self):
        return [ComponentSpec.from_factory("vat-like", VatLike)]


def test_objective_runs_under_bf16_autocast_and_full_precision_gives_the_perturbation_a_float32_gradient():
    VatLike.seen.clear()
    cfg = dataclasses.replace(tiny_config(method="vat-like", method_options={}, steps=4, eval_every=2, threads=1), precision="bf16")
    summary = train(cfg, registry=registry_with(_Plugin()))
    assert summary["final"]["label_loss"] is not None
    assert VatLike.seen and all(seen == (torch.bfloat16, torch.float32, True) for seen in VatLike.seen), VatLike.seen


def test_the_vada_example_in_docs_methods_trains_under_bf16_and_resumes_exactly():
    import re

    from dann_core.testing import check_resume

    guide = (ROOT / "docs" / "methods.md").read_text()
    section = guide.split("## Multi-pass steps", 1)[1].split("\n## ", 1)[0]
    block, = [b for b in re.findall(r"^```python\n(.*?)^```$", section, flags=re.S | re.M) if "class VADA" in b]
    namespace: dict = {}
    exec(compile(block, "docs/methods.md VADA", "exec"), namespace)

    class Plugin:
        @hookimpl
        def register_methods(self):
            return [ComponentSpec.from_factory("vada", namespace["VADA"])]

    summary = check_resume("vada", {"radius": 0.5}, registry=registry_with(Plugin()), precision="bf16")
    assert summary["method"] == "vada" and summary["final"]["label_loss"] is not None
