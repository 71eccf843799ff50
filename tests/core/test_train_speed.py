"""Execution settings of a run: autocast precision, torch.compile, and their failure modes."""
from __future__ import annotations

import dataclasses
import math
import warnings

import pytest
import torch
from torch._dynamo.utils import counters

from dann_methods.dann import DANN
from dann_core.train import engine as base
from dann_core.train import RunError, Trainer, train


def test_bf16_autocasts_the_objective_on_cpu_and_trains(tiny_config, monkeypatch):
    original, seen = DANN.objective, []

    def spy(self, batch):
        seen.append((torch.is_autocast_enabled("cpu"), torch.get_autocast_dtype("cpu")))
        return original(self, batch)

    monkeypatch.setattr(DANN, "objective", spy)
    summary = train(dataclasses.replace(tiny_config, precision="bf16"))
    assert set(seen) == {(True, torch.bfloat16)}
    assert math.isfinite(summary["final"]["label_loss"]) and summary["target_test_acc"] is not None


def test_fp32_runs_without_autocast(tiny_config, monkeypatch):
    original, seen = DANN.objective, set()
    monkeypatch.setattr(DANN, "objective", lambda self, batch: (seen.add(torch.is_autocast_enabled("cpu")), original(self, batch))[1])
    train(tiny_config)
    assert seen == {False}


def test_fp16_on_cpu_is_a_one_line_error(tiny_config):
    with pytest.raises(RunError, match=r"^precision fp16 needs CUDA \(loss scaling\); on cpu use bf16 or fp32$"):
        train(dataclasses.replace(tiny_config, precision="fp16", device="cpu"))


def test_the_fp16_loss_scale_is_checkpointed_and_a_resume_continues_from_it(tiny_config):
    # fp16 runs only on CUDA; the scaler's state is the same on any device, so a CPU GradScaler stands
    # in for the CUDA one here. Without it in the checkpoint, a resumed run restarted at 2**16 and
    # skipped the steps whose gradients overflowed at that scale, which the uninterrupted run took.
    def with_scaler(trainer):
        trainer.engine.scaler = torch.amp.GradScaler("cpu")
        return trainer.engine

    first = with_scaler(Trainer(tiny_config))
    first.scaler.scale(torch.ones(()))  # the scale exists once something was scaled
    first.scaler.update(new_scale=512.0)
    state = first.state_dict()
    assert state["grad_scaler"]["scale"] == 512.0

    resumed = with_scaler(Trainer(tiny_config))
    resumed.load_state_dict(state)
    assert resumed.scaler.get_scale() == 512.0 and resumed.scaler.state_dict() == first.scaler.state_dict()
    del state["grad_scaler"]  # a checkpoint written before the scale was kept still loads
    older = with_scaler(Trainer(tiny_config))
    older.load_state_dict(state)
    assert older.scaler.get_scale() == 2.0**16


def test_compile_never_recompiles_when_lambda_changes(tiny_config, monkeypatch):
    # Recompiles are decided by dynamo's guards, whatever the backend: aot_eager traces forward and
    # backward as inductor does, without compiling C++ (~25 s on 2 cores, the probe's included).
    # Inductor compiles a whole run in test_check_method_variants.
    compile_module = torch.nn.Module.compile
    monkeypatch.setattr(torch.nn.Module, "compile", lambda self, **kwargs: compile_module(self, **{"backend": "aot_eager", **kwargs}))
    monkeypatch.setattr(base, "_compile_works", lambda device: True)
    torch._dynamo.reset()
    counters.clear()
    trainer = Trainer(dataclasses.replace(tiny_config, compile=True, steps=40))
    for _ in range(2):  # the first steps compile forward and backward
        trainer.engine.step(trainer.next_batch())
    frames, lambdas = counters["stats"]["unique_graphs"], set()
    assert frames > 0
    for _ in range(6):
        metrics = trainer.engine.step(trainer.next_batch())
        lambdas.add(metrics["lambda"])
    assert len(lambdas) == 6  # λ changed every step
    assert counters["stats"]["unique_graphs"] == frames
    trainer.engine.check_finite()


def test_compile_falls_back_with_one_warning_where_unavailable(tiny_config, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("no C++ compiler found\nmore detail")

    monkeypatch.setattr(torch, "compile", broken)
    monkeypatch.setattr(base, "_COMPILE_WARNED", False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        train(dataclasses.replace(tiny_config, compile=True))
        train(dataclasses.replace(tiny_config, compile=True))
    messages = [str(w.message) for w in caught if "--compile" in str(w.message)]
    assert messages == ["--compile: torch.compile is unavailable here (no C++ compiler found); training runs eagerly"]
