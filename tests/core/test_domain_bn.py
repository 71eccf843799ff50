"""Per-domain batch statistics: batch norm that normalises source and target rows separately in
training (as separate forwards would), LeNet-BN and the MLP's norm option, and what the engine does."""
from __future__ import annotations

import dataclasses

import pytest
import torch
from torch import nn

from dann_core.config import RunConfig
from dann_core.nn import DomainBatchNorm1d, DomainBatchNorm2d, domain_rows, eval_statistics, per_domain_batch_norm, per_domain_layers
from dann_core.train import Trainer, fit, load_run, train


def test_a_split_input_is_normalised_per_domain_and_each_domain_keeps_its_statistics():
    torch.manual_seed(0)
    source_bn, target_bn = nn.BatchNorm2d(3), nn.BatchNorm2d(3)
    twin = per_domain_batch_norm(nn.BatchNorm2d(3))
    assert isinstance(twin, DomainBatchNorm2d)
    for _ in range(3):
        source, target = torch.randn(4, 3, 5, 5), torch.randn(6, 3, 5, 5) * 3 + 2
        separate = torch.cat([source_bn(source), target_bn(target)])  # what two separate forwards give
        with domain_rows(twin, 4, 6):
            together = twin(torch.cat([source, target]))
        torch.testing.assert_close(together, separate)
    torch.testing.assert_close(twin.running_mean, source_bn.running_mean)
    torch.testing.assert_close(twin.target_running_var, target_bn.running_var)
    x = torch.randn(5, 3, 5, 5) + 1
    twin.eval(), source_bn.eval(), target_bn.eval()
    torch.testing.assert_close(twin(x), target_bn(x))  # evaluation: the target's statistics (AdaBN)
    with eval_statistics(twin, "source"):
        torch.testing.assert_close(twin(x), source_bn(x))
    assert twin.eval_domain == "target"


def test_single_domain_training_forwards_update_the_right_statistics():
    torch.manual_seed(1)
    twin = per_domain_batch_norm(nn.BatchNorm1d(4))
    plain = nn.BatchNorm1d(4)
    x = torch.randn(8, 4) * 2 + 3
    torch.testing.assert_close(twin(x), plain(x))  # outside a step: plain batch norm, both estimates move
    torch.testing.assert_close(twin.running_mean, plain.running_mean)
    torch.testing.assert_close(twin.target_running_mean, plain.running_mean)
    before = twin.running_mean.clone()
    with domain_rows(twin, 3, 5):
        twin(torch.randn(5, 4) + 10)  # five rows: the target's count
    torch.testing.assert_close(twin.running_mean, before)
    assert float(twin.target_running_mean.mean()) > float(before.mean())
    with pytest.raises(ValueError, match="domain must be 'source' or 'target'"):
        with eval_statistics(twin, "both"):
            pass


def test_conversion_keeps_parameters_buffers_and_state_dict_keys():
    net = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Sequential(nn.Conv2d(1, 2, 1), nn.BatchNorm2d(2)))
    before = {k: v.clone() for k, v in net.state_dict().items()}
    per_domain_batch_norm(net)
    assert [type(m) for m in per_domain_layers(net)] == [DomainBatchNorm1d, DomainBatchNorm2d]
    after = net.state_dict()
    assert all(torch.equal(after[k], before[k]) for k in before)
    assert sorted(set(after) - set(before)) == ["1.target_running_mean", "1.target_running_var",
                                                "2.1.target_running_mean", "2.1.target_running_var"]


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
    backbone = trainer.method.model.backbone
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


def test_the_run_evaluates_source_inputs_with_source_statistics_and_target_inputs_with_the_targets(digits_config):
    from dann_core.train.domain_eval import is_source_input

    trainer = Trainer(dataclasses.replace(digits_config, backbone_options={"norm": "domain"}))
    trainer.run()
    model, data, last = trainer.method.model.eval(), trainer.data, trainer.evaluation.last
    with torch.no_grad():
        with eval_statistics(model, "source"):
            source_val = (model(data.source_val.x).argmax(1) == data.source_val.y).float().mean()
        target_test = (model(data.target_test.x).argmax(1) == data.target_test.y).float().mean()
    assert last["source_val_acc"] == pytest.approx(float(source_val))
    assert last["target_test_acc"] == pytest.approx(float(target_test))
    selection = trainer.evaluation.selection_data
    assert is_source_input(selection, selection.subsample(selection.source_train.x, 10))
    assert not is_source_input(selection, selection.subsample(selection.target_x, 10))
