"""--threads 0 (auto): the rule's logic (never its timing), and that config.json records the count used."""
from __future__ import annotations

import dataclasses
import json

import pytest
import torch

from dann_core import config as config_io
from dann_core.config import ConfigError, RunConfig
from dann_core.train import Trainer, train
from dann_core.train import threads


@pytest.mark.parametrize(
    "tiny, cores, processes, idle, expected",
    [
        (True, 16, 1, 1.0, 1),  # a tiny step: one thread, however many cores are idle
        (True, 2, 2, None, 1),
        (False, 2, 1, None, 2),  # idle unknown: the whole share
        (False, 2, 1, 0.98, 2),  # a quiet 2-core machine: both cores
        (False, 2, 1, 0.6, 1),  # one core (and a bit) taken by others
        (False, 2, 1, 0.0, 1),  # a busy machine still gets one thread
        (False, 16, 1, 0.5, 8),
        (False, 16, 2, 1.0, 8),  # two processes share the machine's cores
        (False, 16, 2, 0.5, 4),
        (False, 2, 4, 1.0, 1),  # more processes than cores
        (False, 16, 1, 0.74, 12),  # idle cores round to the nearest
    ],
)
def test_auto_threads_rule(tiny, cores, processes, idle, expected):
    assert threads.auto_threads(tiny, cores, processes, idle) == expected


@pytest.mark.parametrize(
    "backbone, options, tiny",
    [
        ("mlp", {}, True),  # the toy: 15 units
        ("mlp", {"width": 64}, True),
        ("mlp", {"width": 32, "depth": 2}, True),
        ("mlp", {"width": 65}, False),
        ("mlp", {"width": 512, "depth": 3}, False),
        ("mlp", {"width": "wide"}, False),  # a bad option is the backbone's error to report, not tiny
        ("lenet", {}, False),
        ("resnet18", {}, False),
        ("someone-elses-net", {}, False),
    ],
)
def test_tiny_step_reads_the_backbone_and_its_width(backbone, options, tiny):
    assert threads.tiny_step(backbone, options) is tiny


def test_resolve_keeps_an_explicit_count_and_samples_load_only_for_steps_that_are_not_tiny(monkeypatch):
    monkeypatch.setattr(threads, "physical_cores", lambda: 8)
    monkeypatch.setattr(threads, "idle_fraction", lambda seconds=threads.SAMPLE_S: 0.5)
    assert threads.resolve(RunConfig(threads=3, backbone="lenet")) == 3
    assert threads.resolve(RunConfig(backbone="lenet")) == 4
    assert threads.resolve(RunConfig(backbone="lenet"), processes=2) == 2
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "4")
    assert threads.resolve(RunConfig(backbone="lenet")) == 1
    monkeypatch.setattr(threads, "idle_fraction", lambda seconds=threads.SAMPLE_S: pytest.fail("a tiny step samples nothing"))
    assert threads.resolve(RunConfig()) == 1


def test_machine_facts_are_sane():
    assert threads.physical_cores() >= 1
    idle = threads.idle_fraction(0.01)
    assert idle is None or 0.0 <= idle <= 1.0


def test_apply_sets_torch_and_returns_the_resolved_config(monkeypatch):
    before = torch.get_num_threads()
    try:
        cfg = RunConfig(backbone="lenet")
        cfg.recommended = {"lr": {"value": 0.03, "from": "dataset x"}}
        monkeypatch.setattr(threads, "resolve", lambda c, processes=None: 1)
        resolved = threads.apply(cfg)
        assert resolved.threads == 1 and torch.get_num_threads() == 1
        assert cfg.threads == 0  # the caller's config is left as it was
        assert resolved.recommended == cfg.recommended
        assert dataclasses.replace(resolved, threads=0) == cfg
        explicit = RunConfig(threads=1)
        assert threads.apply(explicit) is explicit
    finally:
        torch.set_num_threads(before)


def test_auto_is_the_default_and_config_json_records_the_count_used(tmp_path, tiny_config):
    assert RunConfig().threads == 0
    with pytest.raises(ConfigError, match="threads must be 0 .auto. or more"):
        RunConfig(threads=-1)
    tiny_config.threads = 0
    train(tiny_config, tmp_path / "run")
    recorded = json.loads((tmp_path / "run" / "config.json").read_text())["threads"]
    assert recorded == 1  # the moons toy MLP: a tiny step
    assert config_io.load(tmp_path / "run" / "config.json").threads == 1  # a resume uses that count
    assert Trainer(tiny_config).config.threads == 1


def test_config_json_without_threads_loads_as_auto(tmp_path, tiny_config):
    values = tiny_config.to_dict()
    del values["threads"]
    (tmp_path / "config.json").write_text(json.dumps(values))
    assert config_io.load(tmp_path / "config.json").threads == 0
