"""Fine-tuning: the pretrained parameters' learning-rate multiplier and the bottleneck between backbone and heads."""
from __future__ import annotations

import copy
import dataclasses
import math

import pytest
import torch
from torch import nn

from dann_core import checkpoint, config, schedules
from dann_core.config import ConfigError
from dann_core.model import WithBottleneck
from dann_core.specs import ComponentSpec
from dann_core.testing import registry_with
from dann_core.train import Trainer, resume, train
from dann_core.train import Engine, build_components
from tests.paths import ROOT


class HalfPretrained(nn.Module):
    """Two hidden layers; the first stands for layers loaded from a weights file when ``pretrained``."""

    def __init__(self, input_shape, pretrained: bool) -> None:
        super().__init__()
        self.loaded = nn.Linear(math.prod(input_shape), 8)
        self.new = nn.Linear(8, 8)
        self.out_features = 8
        self.pretrained = pretrained

    def forward(self, x):
        return torch.relu(self.new(torch.relu(self.loaded(x.flatten(1)))))

    def default_head(self, num_classes):
        return nn.Linear(self.out_features, num_classes)

    def pretrained_parameters(self):
        return list(self.loaded.parameters()) if self.pretrained else []


class _Plugin:
    @staticmethod
    def half_pretrained(input_shape: tuple[int, ...], pretrained: bool = True) -> HalfPretrained:
        """A tiny backbone whose first layer is marked pretrained."""
        return HalfPretrained(input_shape, pretrained)

    @staticmethod
    @__import__("dann_core").hookimpl
    def register_backbones():
        return [ComponentSpec.from_factory("half-pretrained", _Plugin.half_pretrained)]


@pytest.fixture(scope="module")
def registry():
    return registry_with(_Plugin)


def finetune_config(tiny_config, **changes):
    return dataclasses.replace(tiny_config, **{"backbone": "half-pretrained", "backbone_lr_mult": 0.1, **changes})


def group_lrs(engine) -> list[float]:
    return [group["lr"] for group in engine.optimizer.param_groups]


def test_pretrained_parameters_train_at_mult_times_the_heads_rate_at_every_step(tiny_config, registry):
    cfg = finetune_config(tiny_config)
    trainer = Trainer(cfg, registry=registry)
    method = trainer.method
    new, pretrained = trainer.engine.optimizer.param_groups
    assert {id(p) for p in pretrained["params"]} == {id(p) for p in method.model.backbone.loaded.parameters()}
    assert len(new["params"]) + len(pretrained["params"]) == len(list(method.parameters()))
    for step in range(cfg.steps):
        metrics = trainer.engine.step(trainer.next_batch())
        head_lr = schedules.lr_at(step / cfg.steps, cfg.lr, True)
        assert metrics["lr"] == pytest.approx(head_lr)
        assert group_lrs(trainer.engine) == pytest.approx([head_lr, 0.1 * head_lr])


def test_runs_without_pretrained_parameters_are_unaffected_by_the_multiplier(tmp_path, tiny_config, registry):
    plain = train(tiny_config, tmp_path / "plain", registry=registry)
    multiplied = train(dataclasses.replace(tiny_config, backbone_lr_mult=0.1), tmp_path / "mult", registry=registry)
    assert multiplied["final"] == plain["final"]
    weights = [checkpoint.load(tmp_path / run / "last.pt")["method"] for run in ("plain", "mult")]
    assert all(torch.equal(weights[0][key], weights[1][key]) for key in weights[0])
    _, method = build_components(dataclasses.replace(tiny_config, backbone_lr_mult=0.1), None, registry)
    assert len(Engine(method, "cpu").optimizer.param_groups) == 1


def test_a_multiplier_of_one_keeps_a_single_group(tiny_config, registry):
    _, method = build_components(finetune_config(tiny_config, backbone_lr_mult=1.0), None, registry)
    assert len(Engine(method, "cpu").optimizer.param_groups) == 1


class Killed(BaseException):
    """Stands in for SIGKILL."""


def test_resume_with_a_multiplier_matches_the_uninterrupted_run(tmp_path, tiny_config, registry, monkeypatch):
    cfg = finetune_config(tiny_config)
    reference = train(cfg, tmp_path / "full", registry=registry)
    original = Trainer.next_batch

    def dying_next_batch(self):
        if self.method.steps_done == 12:
            raise Killed
        return original(self)

    monkeypatch.setattr(Trainer, "next_batch", dying_next_batch)
    with pytest.raises(Killed):
        train(cfg, tmp_path / "killed", registry=registry)
    monkeypatch.setattr(Trainer, "next_batch", original)
    resumed = resume(tmp_path / "killed", registry=registry)
    assert resumed["final"] == reference["final"]
    full, killed = (checkpoint.load(tmp_path / run / "last.pt") for run in ("full", "killed"))
    assert all(torch.equal(full["method"][key], killed["method"][key]) for key in full["method"])
    assert full["pretrained"] == ["model.backbone.loaded.bias", "model.backbone.loaded.weight"]


def test_the_checkpoint_defines_the_groups_when_the_rebuilt_backbone_marks_nothing(tiny_config, registry):
    """A run rebuilt without its weights file (resume with init options dropped) keeps the multiplier."""
    cfg = finetune_config(tiny_config)
    marked = Trainer(cfg, registry=registry)
    for _ in range(3):
        marked.engine.step(marked.next_batch())
    state = copy.deepcopy(marked.engine.state_dict())  # as read from a file: no tensor shared with the live run
    unmarked = Trainer(dataclasses.replace(cfg, backbone_options={"pretrained": False}), registry=registry)
    assert len(unmarked.engine.optimizer.param_groups) == 1
    unmarked.engine.load_state_dict(state)
    assert [g["lr_mult"] for g in unmarked.engine.optimizer.param_groups] == [1.0, 0.1]
    batch = marked.next_batch()
    marked.engine.step(batch)
    unmarked.engine.step(batch)
    for (name, a), b in zip(marked.method.state_dict().items(), unmarked.method.state_dict().values()):
        assert torch.equal(a, b), name


@pytest.mark.parametrize("value", ["0", "-0.1", "nan", "inf"])
def test_backbone_lr_mult_must_be_a_positive_number(value):
    with pytest.raises(ConfigError) as info:
        config.resolve(sets=[f"backbone_lr_mult={value}"], recommend=False)
    assert "backbone_lr_mult" in str(info.value) and "\n" not in str(info.value)


def test_bottleneck_must_not_be_negative():
    with pytest.raises(ConfigError, match=r"^bottleneck must be 0 \(none\) or a positive width, got -1$"):
        config.resolve(sets=["bottleneck=-1"], recommend=False)
    cfg = config.resolve(sets=["bottleneck=256", "backbone_lr_mult=0.1"], recommend=False)
    assert (cfg.bottleneck, cfg.backbone_lr_mult) == (256, 0.1)


def test_the_bottleneck_feeds_both_heads_and_trains_at_the_full_rate(tiny_config, registry):
    cfg = finetune_config(tiny_config, bottleneck=16)
    trainer = Trainer(cfg, registry=registry)
    model = trainer.method.model
    assert isinstance(model.backbone, WithBottleneck) and model.backbone.out_features == 16
    layers = [type(m) for m in model.backbone.bottleneck]
    assert layers == [nn.Linear, nn.BatchNorm1d, nn.ReLU]
    assert model.backbone.bottleneck[0].in_features == 8
    assert model.classifier.in_features == 16
    assert next(m for m in model.discriminator.modules() if isinstance(m, nn.Linear)).in_features == 16
    new, pretrained = trainer.engine.optimizer.param_groups
    new_ids = {id(p) for p in new["params"]}
    assert all(id(p) in new_ids for p in model.backbone.bottleneck.parameters())
    assert {id(p) for p in pretrained["params"]} == {id(p) for p in model.backbone.backbone.loaded.parameters()}
    summary = train(cfg, registry=registry)
    assert summary["final"]["source_val_acc"] is not None


def test_no_bottleneck_leaves_the_backbone_unwrapped(tiny_config, registry):
    _, method = build_components(tiny_config, None, registry)
    assert not isinstance(method.model.backbone, WithBottleneck)
    assert not any(key.startswith("model.backbone.bottleneck") for key in method.state_dict())


class _Foreign(HalfPretrained):
    def pretrained_parameters(self):
        return [nn.Parameter(torch.zeros(1))]


def test_pretrained_parameters_must_be_the_backbones_own():
    from dann_core.plugins import ComponentError

    class Plugin:
        @staticmethod
        @__import__("dann_core").hookimpl
        def register_backbones():
            return [ComponentSpec.from_factory("foreign", lambda input_shape: _Foreign(input_shape, True))]

    with pytest.raises(ComponentError, match="pretrained_parameters\\(\\) yields parameters that are not its own"):
        registry_with(Plugin).build("backbone", "foreign", {}, input_shape=(2,))


def test_the_bottleneck_keeps_the_backbones_input_normalization():
    inner = nn.Linear(3, 5)
    inner.out_features, inner.input_normalization = 5, "imagenet"
    assert WithBottleneck(inner, 4).input_normalization == "imagenet"
    assert WithBottleneck(nn.Linear(3, 5), 4).input_normalization is None


@pytest.fixture
def pretrained_resnet_run(tmp_path):
    """A 2-step dann run of resnet18 (from a weights file the test saves) with a bottleneck, on 3×32×32 npz data."""
    import numpy as np
    from torchvision.models import resnet18

    rng = np.random.default_rng(0)
    images = lambda n: rng.standard_normal((n, 3, 32, 32)).astype(np.float32)  # noqa: E731
    np.savez(tmp_path / "data.npz", xs=images(20), ys=np.arange(20) % 2, xt=images(12), yt=np.arange(12) % 2)
    torch.save(resnet18(weights=None).state_dict(), tmp_path / "r18.pt")
    cfg = config.resolve(flags={
        "dataset": "npz", "backbone": "resnet18", "steps": 2, "eval_every": 2, "batch_size": 4, "device": "cpu",
        "kernels": "reference", "backbone_lr_mult": 0.1, "bottleneck": 8,
    }, sets=[f"dataset.path={tmp_path / 'data.npz'}", f"backbone.weights={tmp_path / 'r18.pt'}"])
    train(cfg, tmp_path / "run")
    return tmp_path


def test_a_trained_run_evaluates_without_its_weights_file(pretrained_resnet_run):
    import json

    from click.testing import CliRunner

    from dann_core.cli import build_cli
    from dann_core.train import load_run

    run_dir = pretrained_resnet_run / "run"
    inputs = load_run(run_dir).data.target_test.x
    before = load_run(run_dir).model.predict(inputs)
    assert checkpoint.load(run_dir / "last.pt")["pretrained"]  # trained with two groups
    (pretrained_resnet_run / "r18.pt").unlink()
    assert torch.equal(load_run(run_dir).model.predict(inputs), before)
    result = CliRunner().invoke(build_cli(), ["eval", str(run_dir), "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["step"] == 2


RECIPE = ROOT / "docs" / "recipes" / "office31.toml"


def test_the_office31_recipe_parses_into_its_settings():
    cfg = config.resolve(RECIPE, recommend=False)  # no registry: the dataset's options are not validated here
    assert (cfg.dataset, cfg.backbone, cfg.discriminator, cfg.method) == ("image-folder", "resnet50", "mlp", "dann")
    assert (cfg.lr, cfg.momentum, cfg.weight_decay, cfg.backbone_lr_mult, cfg.bottleneck) == (0.01, 0.9, 0.001, 0.1, 256)
    assert (cfg.steps, cfg.batch_size, cfg.lr_schedule) == (20000, 32, True)
    assert cfg.method_options == {"lambda": "schedule"}
    assert cfg.discriminator_options == {"hidden": "1024,1024", "dropout": 0.5}
    assert cfg.backbone_options == {"weights": "/path/to/resnet50-imagenet.pth"}
    assert cfg.dataset_options == {
        "source": "/path/to/office31/amazon/images", "target": "/path/to/office31/webcam/images",
        "size": 224, "augment": "standard", "normalize": "imagenet",
    }


def test_the_office31_recipe_passes_the_plugins_option_checks():
    from dann_core.plugins import get_plugin_manager, get_registry

    cfg = config.resolve(RECIPE, registry=get_registry(get_plugin_manager(autoload=False)))
    assert (cfg.dataset_options["normalize"], cfg.backbone_lr_mult, cfg.bottleneck) == ("imagenet", 0.1, 256)
