"""--threads 0 (auto): the rule's logic (never its timing), and that config.json records the count used."""
from __future__ import annotations

import dataclasses
import json

import pytest
import torch

from dann_core import config as config_io
from dann_core import machine
from dann_core.config import ConfigError, RunConfig
from dann_core.train import Trainer, train
from dann_core.train import threads


@pytest.mark.parametrize(
    "tiny, cores, processes, expected",
    [
        (True, 16, 1, 1),  # a tiny step: one thread, however many cores
        (True, 2, 2, 1),
        (False, 2, 1, 2),
        (False, 16, 1, 16),
        (False, 16, 2, 8),  # two processes share the machine's cores
        (False, 2, 4, 1),  # more processes than cores
    ],
)
def test_auto_threads_rule(tiny, cores, processes, expected):
    assert threads.auto_threads(tiny, cores, processes) == expected


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


def test_resolve_keeps_an_explicit_count_and_reads_the_machine_never_its_load(monkeypatch):
    monkeypatch.setattr(machine, "physical_cores", lambda: 8)
    monkeypatch.setattr(machine, "cpu_quota", lambda: None)
    assert threads.resolve(RunConfig(threads=3, backbone="lenet")) == 3
    assert threads.resolve(RunConfig(backbone="lenet")) == 8
    assert threads.resolve(RunConfig(backbone="lenet"), processes=2) == 4
    monkeypatch.setattr(machine, "cpu_quota", lambda: 3)  # a container allowed 2.5 CPUs
    assert threads.resolve(RunConfig(backbone="lenet")) == 3
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "4")
    assert threads.resolve(RunConfig(backbone="lenet")) == 1
    assert threads.resolve(RunConfig()) == 1


def test_the_automatic_count_is_the_same_on_a_busy_and_a_quiet_machine():
    """Issue 22: the same command gave different metrics under load (threads were read from idle cores)."""
    import os
    import subprocess
    import sys

    quiet = threads.resolve(RunConfig(backbone="lenet"))
    burners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(os.cpu_count() or 1)]
    try:
        busy = threads.resolve(RunConfig(backbone="lenet"))
    finally:
        for burner in burners:
            burner.kill()
            burner.wait()
    assert busy == quiet


@pytest.mark.parametrize(
    "files, expected",
    [
        ({"cpu.max": "max 100000"}, None),
        ({"cpu.max": "250000 100000"}, 3),
        ({"cpu.max": "50000 100000"}, 1),
        ({"cpu/cpu.cfs_quota_us": "-1", "cpu/cpu.cfs_period_us": "100000"}, None),
        ({"cpu/cpu.cfs_quota_us": "400000", "cpu/cpu.cfs_period_us": "100000"}, 4),
        ({}, None),
    ],
)
def test_cpu_quota_reads_cgroup_v1_and_v2(tmp_path, monkeypatch, files, expected):
    from pathlib import Path

    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text + "\n")
    real = Path

    def rooted(path, *rest):
        path = str(path)
        return real(str(tmp_path) + path[len("/sys/fs/cgroup"):]) if path.startswith("/sys/fs/cgroup") else real(path, *rest)

    monkeypatch.setattr(machine, "Path", rooted)
    assert machine.cpu_quota() == expected


def test_machine_facts_are_sane():
    assert threads.physical_cores() >= 1
    assert threads.machine_cores() >= 1


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


def test_the_run_line_says_the_count_why_and_how_idle_threads_wait(monkeypatch):
    monkeypatch.setattr(machine, "physical_cores", lambda: 4)
    monkeypatch.setattr(machine, "cpu_quota", lambda: None)
    monkeypatch.setenv("OMP_WAIT_POLICY", "PASSIVE")
    monkeypatch.delenv("GOMP_SPINCOUNT", raising=False)
    monkeypatch.delenv("LOCAL_WORLD_SIZE", raising=False)
    lenet = RunConfig(backbone="lenet")
    assert threads.describe(0, 4, lenet) == "threads: 4 (auto: this process's 4 physical core(s)); idle threads sleep at once (OMP_WAIT_POLICY=PASSIVE)"
    assert threads.describe(0, 1, RunConfig()).startswith("threads: 1 (auto: 1 for the tiny mlp step)")
    assert threads.describe(3, 3, lenet).startswith("threads: 3 (--threads)")
    assert threads.describe(3, 3, lenet, resumed=True).startswith("threads: 3 (the run's config.json")
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")
    assert "shared by 2 processes" in threads.describe(0, 2, lenet)


@pytest.mark.parametrize(
    "environ, words",
    [
        ({}, "spin ~3 ms, then sleep (OpenMP's default)"),
        ({"OMP_WAIT_POLICY": "passive"}, "sleep at once (OMP_WAIT_POLICY=PASSIVE)"),
        ({"OMP_WAIT_POLICY": "ACTIVE"}, "spin (OMP_WAIT_POLICY=ACTIVE)"),
        ({"OMP_WAIT_POLICY": "PASSIVE", "GOMP_SPINCOUNT": "10k"}, "spin 10k rounds, then sleep (GOMP_SPINCOUNT=10k)"),
    ],
)
def test_wait_policy_in_words(environ, words):
    assert machine.wait_policy(environ) == words
