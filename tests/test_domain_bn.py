"""Per-domain batch statistics: batch norm that normalises source and target rows separately in
training (as separate forwards would), LeNet-BN and the MLP's norm option, and what the engine does."""
from __future__ import annotations

import copy
import dataclasses

import pytest
import torch
from torch import nn

from dann_core.config import RunConfig
from dann_core.nn import DomainBatchNorm1d, DomainBatchNorm2d, domain_rows, per_domain_batch_norm, per_domain_layers
from dann_core.train import Trainer, fit, load_run, train


def test_a_split_input_is_normalised_per_domain_like_two_separate_forwards():
    torch.manual_seed(0)
    plain = nn.BatchNorm2d(3)
    twin = per_domain_batch_norm(copy.deepcopy(plain))
    assert isinstance(twin, DomainBatchNorm2d)
    source, target = torch.randn(4, 3, 5, 5), torch.randn(6, 3, 5, 5) * 3 + 2
    separate = torch.cat([plain(source), plain(target)])
    with domain_rows(twin, 4, 6):
        together = twin(torch.cat([source, target]))
    torch.testing.assert_close(together, separate)
    torch.testing.assert_close(twin.running_mean, plain.running_mean)  # each domain updated them in turn
    torch.testing.assert_close(twin.running_var, plain.running_var)


def test_outside_the_context_in_eval_and_for_one_domain_it_is_plain_batch_norm():
    torch.manual_seed(1)
    plain = nn.BatchNorm1d(4)
    twin = per_domain_batch_norm(copy.deepcopy(plain))
    x = torch.randn(8, 4)
    torch.testing.assert_close(twin(x), plain(x))
    with domain_rows(twin, 3, 5):
        torch.testing.assert_close(twin(x[:3]), plain(x[:3]))  # a source-only forward: one domain
        twin.eval(), plain.eval()
        torch.testing.assert_close(twin(x), plain(x))  # evaluation uses the running statistics
    assert twin.rows is None  # the context ended


def test_conversion_keeps_parameters_buffers_and_state_dict_keys():
    net = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Sequential(nn.Conv2d(1, 2, 1), nn.BatchNorm2d(2)))
    before = {k: v.clone() for k, v in net.state_dict().items()}
    per_domain_batch_norm(net)
    assert [type(m) for m in per_domain_layers(net)] == [DomainBatchNorm1d, DomainBatchNorm2d]
    after = net.state_dict()
    assert list(after) == list(before) and all(torch.equal(after[k], before[k]) for k in before)


@pytest.fixture
def digits_config():
    return RunConfig(dataset="digits-blend", backbone="lenet", steps=12, eval_every=6, batch_size=8, lr=0.01, threads=1,
                     dataset_options={"n_images": 64, "n_val_images": 32, "n_test_images": 32})


@pytest.mark.parametrize("norm, channels_last", [("batch", False), ("domain", True)])
def test_lenet_bn_trains_evaluates_and_loads(tmp_path, digits_config, norm, channels_last):
    cfg = dataclasses.replace(digits_config, backbone_options={"norm": norm, "dropout": 0.1}, channels_last=channels_last)
    summary = train(cfg, tmp_path / "run")
    assert summary["final"]["step"] == 12 and summary["final"]["source_val_acc"] is not None
    run = load_run(tmp_path / "run")
    layers = per_domain_layers(run.model)
    assert (len(layers) == 4) == (norm == "domain")  # two conv BNs and the head's two


def test_the_engine_splits_each_step_and_only_the_step(digits_config):
    cfg = dataclasses.replace(digits_config, backbone_options={"norm": "domain"}, steps=1)
    trainer = Trainer(cfg)
    backbone = trainer.algorithm.model.backbone
    seen = []
    first = per_domain_layers(backbone)[0]
    first.register_forward_pre_hook(lambda module, args: seen.append((args[0].shape[0], module.rows)))
    trainer.engine.step(trainer.next_batch())
    assert seen == [(16, (8, 8))]  # DANN's one forward of 8 source + 8 target rows, split in two
    assert first.rows is None


def test_separate_statistics_change_the_dann_step_only_with_norm_domain(digits_config):
    """Same seed and data: batch and domain differ in their first step's loss (the statistics
    differ); the paper's network (no norm) has nothing to split."""
    losses = {}
    for norm in ("batch", "domain"):
        trainer = Trainer(dataclasses.replace(digits_config, backbone_options={"norm": norm}, steps=1))
        losses[norm] = float(trainer.engine.step(trainer.next_batch())["domain_loss"])
    assert losses["batch"] != losses["domain"]


def test_mlp_norm_option_and_bad_values_are_one_line_errors():
    from dann_core.plugins import InvalidOptionError
    from dann_core.plugins import get_registry

    registry = get_registry()
    mlp = registry.build("backbone", "mlp", {"norm": "domain", "width": 8, "activation": "relu"}, input_shape=(5,))
    assert len(per_domain_layers(mlp)) == 1
    for name, options in (("mlp", {"norm": "layer"}), ("lenet", {"norm": "group"})):
        with pytest.raises((ValueError, InvalidOptionError), match="norm must be one of none, batch, domain"):
            registry.build("backbone", name, options, input_shape=(3, 28, 28))
    with pytest.raises((ValueError, InvalidOptionError), match=r"dropout must be in \[0, 1\)"):
        registry.build("backbone", "lenet", {"dropout": 1.0}, input_shape=(3, 28, 28))


def test_the_paper_lenet_is_unchanged_by_the_new_options():
    from dann_backbones.lenet import make_lenet

    torch.manual_seed(0)
    net = make_lenet((3, 28, 28))
    assert [k for k in net.state_dict()] == ["layers.0.weight", "layers.0.bias", "layers.3.weight", "layers.3.bias"]
    assert not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in net.modules())


def test_an_in_memory_domain_norm_run_predicts_in_eval_mode(digits_config):
    run = fit(dataclasses.replace(digits_config, backbone_options={"norm": "domain"}))
    x = run.data.target_test.x[:5]
    assert not run.model.training
    torch.testing.assert_close(run.model(x), run.model(x))  # running statistics: no batch dependence
    torch.testing.assert_close(run.model(x[:1]), run.model(x)[:1])
