"""A method declares the metrics its run's summary and progress bar show (Method.summary_metrics,
progress_metrics, schedule_metrics); the trainer knows no method's metric names."""
from __future__ import annotations

import dataclasses

import pytest
import torch
import torch.nn.functional as F

from dann_core import hookimpl
from dann_core.config import RunConfig
from dann_core.methods import SOURCE, TARGET, Method, accuracy
from dann_core.metrics import MetricsLog
from dann_core.specs import ComponentSpec
from dann_core.testing import TINY_SETTINGS, registry_with
from dann_core.train import Trainer, train
from dann_core.train import progress


class Spread(Method):
    """Cross-entropy on source; reports the spread of the target logits, a host-side tick, and never
    the ``never`` it declares (a phase that does not report a name leaves it out)."""

    needs = frozenset({SOURCE, TARGET})
    summary_metrics = ("spread", "never")
    progress_metrics = ("spread", "never")
    schedule_metrics = ("tick",)

    def objective(self, batch):
        logits = self.model.classifier(self.model.backbone(batch.source_x))
        loss = F.cross_entropy(logits, batch.source_y)
        spread = self.model.predict(batch.target_x).std()
        return loss, {"label_loss": loss.detach(), "train_acc": accuracy(logits, batch.source_y), "spread": spread.detach(),
                      "tick": float(self.steps_done)}


class Undeclared(Method):
    summary_metrics = "label_loss"  # a string, not a tuple of names

    def objective(self, batch):
        raise AssertionError("never built")


class _Plugin:
    @staticmethod
    @hookimpl
    def register_methods():
        return [ComponentSpec.from_factory("spread", Spread), ComponentSpec.from_factory("undeclared", Undeclared)]


@pytest.fixture
def config():
    return RunConfig(**{**TINY_SETTINGS, "method_options": {}, "steps": 10, "eval_every": 5, "threads": 1})


def test_the_summary_holds_the_methods_declared_metrics_and_not_dann_s(tmp_path, config):
    summary = train(dataclasses.replace(config, method="spread"), tmp_path / "run", registry=registry_with(_Plugin))
    final = summary["final"]
    assert sorted(final) == ["source_val_acc", "spread", "step", "target_test_acc"]  # no label_loss: not declared
    assert final["step"] == 10 and final["spread"] > 0
    lines = MetricsLog(tmp_path / "run" / "metrics.jsonl").read()
    assert final["spread"] == lines[-1]["spread"]
    # a schedule metric is the window's last step's value (steps 0..4, then 5..9), not its mean
    assert [line["tick"] for line in lines] == [4.0, 9.0]


def test_dann_and_source_only_keep_their_summary_entries(tmp_path, config):
    dann = train(dataclasses.replace(config, method="dann", method_options={"lambda": "schedule"}), tmp_path / "dann")
    assert sorted(dann["final"]) == ["domain_acc", "domain_loss", "label_loss", "source_val_acc", "step", "target_test_acc"]
    assert all(value is not None for value in dann["final"].values())
    source_only = train(dataclasses.replace(config, method="source-only"), tmp_path / "source-only")
    assert sorted(source_only["final"]) == ["label_loss", "source_val_acc", "step", "target_test_acc"]
    # a regulariser in plus adds its loss to the method's summary
    mcc = train(dataclasses.replace(config, method="dann", method_options={"lambda": "schedule", "plus": "mcc"}), tmp_path / "mcc")
    assert sorted(mcc["final"]) == ["domain_acc", "domain_loss", "label_loss", "mcc_loss", "source_val_acc", "step", "target_test_acc"]
    assert mcc["final"]["mcc_loss"] > 0


def test_the_progress_bar_shows_what_the_method_declares(config):
    spread = Trainer(dataclasses.replace(config, method="spread"), registry=registry_with(_Plugin))
    assert spread.progress_labels == {"spread": "spread", "never": "never", "source_val_acc": "val", "target_test_acc": "test"}
    # a name without a value (never reported, or no evaluation yet) is left out; tensors are shown as numbers
    assert progress.postfix({"spread": torch.tensor(0.25), "source_val_acc": 0.5}, spread.progress_labels) == {"spread": "0.250", "val": "0.500"}
    dann = Trainer(dataclasses.replace(config, method_options={"lambda": "schedule"}))
    assert list(dann.progress_labels.items()) == [("label_loss", "loss"), ("domain_acc", "d_acc"), ("source_val_acc", "val"),
                                                 ("target_test_acc", "test")]
    assert Trainer(dataclasses.replace(config, method="source-only")).progress_labels == {"label_loss": "loss", "source_val_acc": "val",
                                                                                          "target_test_acc": "test"}


@pytest.mark.parametrize("module, name, metric", [("mcd", "MCD", "discrepancy"), ("mdd", "MDD", "mdd_loss"), ("dan", "DAN", "mmd_loss"),
                                                  ("adda", "ADDA", "encoder_loss")])
def test_the_built_in_methods_declare_their_own_metrics(module, name, metric):
    import importlib

    declared = getattr(importlib.import_module(f"dann_methods.{module}"), name).summary_metrics
    assert metric in declared and "label_loss" in declared
    if module != "adda":  # only adda's second phase has a domain classifier's loss
        assert "domain_loss" not in declared


def test_metric_names_declared_as_a_string_are_one_line(config):
    with pytest.raises(Exception, match=r"Undeclared.summary_metrics is 'label_loss': declare metric names as a tuple of strings"):
        Trainer(dataclasses.replace(config, method="undeclared"), registry=registry_with(_Plugin))


def test_check_method_refuses_a_declared_metric_the_method_never_reports():
    from dann_core.testing import ContractError, check_method

    with pytest.raises(ContractError, match=r"^method 'spread' declares summary_metrics 'never' but never reports it in its metrics "
                                            r"\(it reports: .*spread.*\)$"):
        check_method("spread", registry=registry_with(_Plugin))
