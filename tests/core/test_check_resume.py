"""dann_core.testing.check_resume: a method resumes exactly after a stop between two checkpoints, and a
method keeping state its checkpoint does not hold fails with one line naming the step and metric."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from dann_core import hookimpl
from dann_core.methods import Method, accuracy
from dann_core.specs import ComponentSpec
from dann_core.testing import ContractError, check_resume, registry_with, tiny_config


class CountingMethod(Method):
    """Source-only whose loss weight follows a Python counter: a resumed run starts it again at 0."""

    def __init__(self, context) -> None:
        super().__init__(context)
        self.calls = 0

    def objective(self, batch):
        self.calls += 1
        logits = self.model.classifier(self.model.backbone(batch.source_x))
        loss = F.cross_entropy(logits, batch.source_y) * (1.0 + 0.1 * self.calls)
        return loss, {"label_loss": loss.detach(), "train_acc": accuracy(logits, batch.source_y)}


class NoisyMethod(Method):
    """Source-only with input noise from a generator of its own, which the checkpoint does not hold."""

    def __init__(self, context) -> None:
        super().__init__(context)
        self.generator = torch.Generator().manual_seed(7)

    def objective(self, batch):
        noise = torch.randn(batch.source_x.shape, generator=self.generator)
        logits = self.model.classifier(self.model.backbone(batch.source_x + 0.3 * noise))
        loss = F.cross_entropy(logits, batch.source_y)
        return loss, {"label_loss": loss.detach(), "train_acc": accuracy(logits, batch.source_y)}


class CheckpointedCounter(CountingMethod):
    """The counter as a buffer: in the checkpoint, so the method resumes exactly."""

    def __init__(self, context) -> None:
        super().__init__(context)
        self.register_buffer("count", torch.zeros((), dtype=torch.long))

    def objective(self, batch):
        self.count += 1
        self.calls = int(self.count)
        logits = self.model.classifier(self.model.backbone(batch.source_x))
        loss = F.cross_entropy(logits, batch.source_y) * (1.0 + 0.1 * self.calls)
        return loss, {"label_loss": loss.detach(), "train_acc": accuracy(logits, batch.source_y)}


class _Plugin:
    @hookimpl
    def register_methods(self):
        return [ComponentSpec.from_factory(name, cls)
                for name, cls in (("counting", CountingMethod), ("noisy", NoisyMethod), ("counted", CheckpointedCounter))]


@pytest.fixture(scope="module")
def registry():
    return registry_with(_Plugin())


@pytest.mark.parametrize("method", ["dann", "cdan", "mcd", "adda"])
def test_the_built_in_methods_resume_exactly(method, registry):
    summary = check_resume(method, registry=registry)
    assert summary["method"] == method and summary["steps"] == 10


def test_a_python_counter_the_checkpoint_does_not_hold_fails_naming_the_step_and_metric(registry):
    with pytest.raises(ContractError) as info:
        check_resume("counting", registry=registry)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("method 'counting' does not resume exactly (stopped after step 6, resumed from its checkpoint): step 8 logged ")
    assert "get_extra_state" in message


def test_a_generator_of_the_method_s_own_fails(registry):
    with pytest.raises(ContractError, match=r"^method 'noisy' does not resume exactly \(stopped after step 6.*: step 8 logged \w+="):
        check_resume("noisy", registry=registry)


def test_the_same_counter_kept_in_a_buffer_passes_and_a_run_config_is_accepted(registry):
    check_resume("counted", registry=registry)
    cfg = tiny_config(method="dann", steps=6, eval_every=3, threads=1)
    assert check_resume(cfg, registry=registry, stop_after=4)["steps"] == 6


def test_a_stop_outside_the_run_is_one_line():
    with pytest.raises(ValueError, match=r"^check_resume: stop_after=10 must be a step from 1 to 9 \(the run has 10 steps\)$"):
        check_resume("dann", stop_after=10)
