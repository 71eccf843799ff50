"""The open method contract: a two-phase, multi-optimiser method in one class of public API, and run
directories written before the engine existed still resume exactly."""
from __future__ import annotations

import copy
import dataclasses
import shutil

import pytest
import torch
import torch.nn.functional as F

from dann_core import checkpoint, hookimpl
from dann_core.methods import SOURCE, TARGET, Method, Batch, accuracy
from dann_core.config import RunConfig
from dann_core.nn import domain_classification_loss
from dann_core.specs import ComponentSpec
from dann_core.testing import registry_with
from dann_core.train import Trainer, resume, train
from tests.paths import TEST_DATA

LEGACY = TEST_DATA / "run-before-engine"


class TwoPhaseADDA(Method):
    """ADDA-like (Tzeng et al. 2017): source pre-training, then a separate target encoder trained
    against a discriminator (two phases, three optimisers, two minimisations per adversarial step)."""

    needs = frozenset({SOURCE, TARGET})

    def __init__(self, context, pretrain: float = 0.5) -> None:
        super().__init__(context)
        self.pretrain = pretrain
        self.target_encoder = copy.deepcopy(self.model.backbone)
        self.model.discriminator = context.make_discriminator(int(self.model.backbone.out_features))
        self.register_buffer("adapting", torch.zeros((), dtype=torch.bool))

    def configure_optimizers(self):
        model = self.model
        return {
            "source": self.sgd([*model.backbone.parameters(), *model.classifier.parameters()]),
            "discriminator": self.sgd(model.discriminator.parameters()),
            "target": self.sgd(self.target_encoder.parameters(), lr=self.optim.lr / 10),
        }

    def update(self, batch: Batch, engine):
        model = self.model
        if self.progress() < self.pretrain:
            with engine.autocast():
                logits = model.classifier(model.backbone(batch.source_x))
                loss = F.cross_entropy(logits, batch.source_y)
            engine.minimize(loss, "source")
            return {"label_loss": loss.detach(), "train_acc": accuracy(logits, batch.source_y)}
        if not self.adapting:  # the target encoder starts from the trained source encoder
            self.target_encoder.load_state_dict(model.backbone.state_dict())
            self.adapting.fill_(True)
        n = len(batch.source_x)
        with engine.autocast():
            with torch.no_grad():
                source = model.backbone(batch.source_x)
            features = torch.cat([source, self.target_encoder(batch.target_x).detach()])
            disc = domain_classification_loss(model.discriminator(features), n)
        engine.minimize(disc.loss, "discriminator")
        with engine.autocast():  # the target encoder tries to look like source (inverted label)
            fooled = domain_classification_loss(model.discriminator(self.target_encoder(batch.target_x)), len(batch.target_x))
        engine.minimize(fooled.loss, "target")
        return {"domain_loss": disc.loss.detach(), "domain_acc": disc.accuracy, "encoder_loss": fooled.loss.detach()}

    @torch.no_grad()
    def predict(self, x):
        encoder = self.target_encoder if bool(self.adapting) else self.model.backbone
        was = self.training
        self.eval()
        try:
            return self.model.classifier(encoder(x))
        finally:
            self.train(was)


class _Plugin:
    @staticmethod
    @hookimpl
    def register_methods():
        return [ComponentSpec.from_factory("two-phase-adda", TwoPhaseADDA)]


@pytest.fixture
def adda_config():
    return RunConfig(dataset="moons", method="two-phase-adda", steps=40, batch_size=16, eval_every=10, lr=0.1, threads=1)


class Killed(BaseException):
    """Stands in for SIGKILL."""


def test_a_multi_optimiser_two_phase_method_trains_and_resumes_exactly(tmp_path, adda_config, monkeypatch):
    registry = registry_with(_Plugin)
    reference = train(adda_config, tmp_path / "full", registry=registry)
    state = checkpoint.load(tmp_path / "full" / "last.pt")
    assert sorted(state["optimizers"]) == ["discriminator", "source", "target"] and "optimizer" not in state
    assert reference["final"]["source_val_acc"] > 0.6  # the source phase learned the task

    original = Trainer.next_batch

    def dying(self):
        if self.method.steps_done == 27:  # inside the adversarial phase, between checkpoints
            raise Killed
        return original(self)

    monkeypatch.setattr(Trainer, "next_batch", dying)
    with pytest.raises(Killed):
        train(adda_config, tmp_path / "killed", registry=registry)
    monkeypatch.setattr(Trainer, "next_batch", original)
    assert resume(tmp_path / "killed", registry=registry)["final"] == reference["final"]
    killed = checkpoint.load(tmp_path / "killed" / "last.pt")
    assert all(torch.equal(state["method"][k], killed["method"][k]) for k in state["method"])


def test_a_non_finite_loss_in_one_optimiser_step_stops_every_later_update(adda_config):
    registry = registry_with(_Plugin)
    trainer = Trainer(dataclasses.replace(adda_config, steps=30, eval_every=30), registry=registry)
    original = TwoPhaseADDA.update

    def poisoned(self, batch, engine):
        if self.steps_done == 22:
            engine.minimize(torch.tensor(float("nan"), requires_grad=True) * sum(p.sum() for p in self.parameters()), "discriminator")
        return original(self, batch, engine)

    TwoPhaseADDA.update = poisoned
    try:
        with pytest.raises(Exception, match="training diverged: loss is not finite at step 22"):
            trainer.run()
    finally:
        TwoPhaseADDA.update = original


def test_an_unknown_optimiser_name_is_one_line_naming_the_choices(adda_config):
    trainer = Trainer(adda_config, registry=registry_with(_Plugin))
    with pytest.raises(KeyError, match="TwoPhaseADDA has no optimiser 'encoder'; it has source, discriminator, target"):
        trainer.engine.minimize(torch.zeros((), requires_grad=True), "encoder")


def test_a_run_directory_written_before_the_engine_resumes_exactly(tmp_path):
    """tests/data/run-before-engine: moons, 20 steps, killed at step 10 by the trainer of commit 654827b
    (one SGD inside the method). Its uninterrupted twin ended with the metrics below."""
    run = tmp_path / "run"
    shutil.copytree(LEGACY, run)
    summary = resume(run)
    assert summary["final"] == {"step": 20, "source_val_acc": 0.78, "target_test_acc": 0.848, "label_loss": 0.6409896850585938,
                                "domain_loss": 0.6924581527709961, "domain_acc": 0.540625}
    fresh = train(RunConfig(dataset="moons", steps=20, batch_size=16, eval_every=10, lr=0.1, threads=1), tmp_path / "fresh")
    assert fresh["final"] == summary["final"]


def test_channels_last_trains_an_image_model_like_the_default_layout_and_resumes_exactly(tmp_path, monkeypatch):
    cfg = RunConfig(dataset="digits-blend", backbone="lenet", steps=12, batch_size=16, eval_every=6, lr=0.03, threads=1,
                    dataset_options={"n_images": 640, "n_val_images": 400, "n_test_images": 400})  # a tenth: 25 -> 6 s
    default = train(cfg, tmp_path / "default")
    cl = dataclasses.replace(cfg, channels_last=True)
    trainer = Trainer(cl)
    conv = next(p for p in trainer.method.parameters() if p.dim() == 4)
    assert conv.is_contiguous(memory_format=torch.channels_last)
    full = train(cl, tmp_path / "full")
    for key in ("source_val_acc", "target_test_acc"):  # NHWC kernels sum in another order: same within float noise
        assert abs(full["final"][key] - default["final"][key]) <= 0.02, key
    assert full["final"]["label_loss"] == pytest.approx(default["final"]["label_loss"], rel=1e-3)

    original = Trainer.next_batch

    def dying(self):
        if self.method.steps_done == 8:
            raise Killed
        return original(self)

    monkeypatch.setattr(Trainer, "next_batch", dying)
    with pytest.raises(Killed):
        train(cl, tmp_path / "killed")
    monkeypatch.setattr(Trainer, "next_batch", original)
    assert resume(tmp_path / "killed")["final"] == full["final"]
