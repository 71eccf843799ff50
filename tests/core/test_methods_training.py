"""The compared methods train: plugin contract checks, exact resume after a kill, a short moons run
against source-only, and data-parallel equivalence of the single-optimiser per-row methods."""
from __future__ import annotations

import dataclasses
import json
import subprocess
import sys

import pytest
import torch

from dann_core import checkpoint, config
from dann_core.config import RunConfig
from dann_core.plugins import get_plugin_manager, get_registry
from dann_core.testing import check_method
from dann_core.train import Trainer, resume, train

METHODS = ["mcc", "mdd", "dan", "jan", "mcd", "adda", "bsp", "afn"]
COMPOSED = [("dann", {"plus": "mcc,bsp"}), ("cdan", {"plus": "afn", "afn_radius": 2.0}), ("mdd", {"plus": "mcc"})]
CASES = [(m, {}) for m in METHODS] + COMPOSED
IDS = [m if not o else f"{m}+{o['plus']}" for m, o in CASES]


@pytest.fixture(scope="module")
def registry():
    return get_registry(get_plugin_manager(autoload=False))


@pytest.mark.parametrize("method, options", CASES, ids=IDS)
def test_plugin_contract(method, options, registry):
    summary = check_method(method, options, registry=registry)
    assert summary["final"]["source_val_acc"] is not None


class Killed(BaseException):
    """Stands in for SIGKILL."""


@pytest.mark.parametrize("method, options", CASES, ids=IDS)
def test_killed_and_resumed_ends_exactly_like_an_uninterrupted_run(method, options, tiny_config, registry, tmp_path, monkeypatch):
    cfg = dataclasses.replace(tiny_config, method=method, method_options=options, threads=1)
    if method == "adda":
        cfg = dataclasses.replace(cfg, method_options={"pretrain": 0.4})  # killed at 12/20: inside the adversarial phase
    reference = train(cfg, tmp_path / "full", registry=registry)
    original = Trainer.next_batch

    def dying(self):
        if self.method.steps_done == 12:  # between two checkpoints (every 5 steps)
            raise Killed
        return original(self)

    monkeypatch.setattr(Trainer, "next_batch", dying)
    with pytest.raises(Killed):
        train(cfg, tmp_path / "killed", registry=registry)
    monkeypatch.setattr(Trainer, "next_batch", original)
    assert resume(tmp_path / "killed", registry=registry)["final"] == reference["final"]
    a, b = (checkpoint.load(tmp_path / d / "last.pt") for d in ("full", "killed"))
    assert all(torch.equal(a["method"][k], b["method"][k]) for k in a["method"])


MOONS_STEPS = 300
BEATS_SOURCE_ONLY = ["dan", "jan", "mcd"]
"""Measured at 300 steps on moons' recipe (lr 0.1; λ = 6 for the DANN family), target accuracy at the
last step, seeds 0 / 1: source-only 0.709 / 0.717; dan 0.849 / 0.841, jan 0.848 / 0.843, mcd 0.749 /
0.770 (asserted: > source-only + 0.03 on both seeds). Not asserted, as measured: adda 0.732 / 0.740
(+0.02), afn 0.711 / 0.730, mdd 0.708 / 0.704, mcc 0.692 / 0.697, bsp 0.691 / 0.694 and dann itself
0.691 / 0.693 (moons' λ = 6 recipe needs its 3000 steps; see benchmarks/accuracy_table_moons.md)."""


def moons_run(method: str, seed: int, registry, tmp_path) -> float:
    cfg = config.resolve(flags={"method": method, "steps": MOONS_STEPS, "eval_every": MOONS_STEPS, "threads": 1,
                                "kernels": "reference", "seed": seed}, registry=registry)
    return train(cfg, tmp_path / f"{method}-{seed}", registry=registry)["final"]["target_test_acc"]


@pytest.mark.parametrize("method", BEATS_SOURCE_ONLY)
def test_a_short_moons_run_beats_source_only_on_the_same_seeds(method, registry, tmp_path):
    for seed in (0, 1):
        baseline = moons_run("source-only", seed, registry, tmp_path)
        assert moons_run(method, seed, registry, tmp_path) > baseline + 0.03, (method, seed)


DDP_SETTINGS = ["--steps", "10", "--batch-size", "16", "--eval-every", "5", "--kernels", "reference", "--no-lr-schedule",
                "--set", "dataset.n_per_class=30", "--set", "dataset.n_test_per_class=40", "--quiet"]
PER_ROW = ["afn", "mdd"]
"""Single-optimiser methods whose loss is a mean of per-row terms: two processes of 8 rows train what
one process of 16 trains. mcc, dan, jan and bsp are batch statistics (class confusion, MMD, singular
values) computed on each process's rows, so their data-parallel runs are not the one-process run."""


@pytest.mark.parametrize("method", PER_ROW)
def test_two_processes_train_what_one_process_trains(method, tmp_path):
    run = tmp_path / "ddp"
    result = subprocess.run([sys.executable, "-m", "dann_core", "run", "--nproc", "2", "--method", method, "--out", str(run), *DDP_SETTINGS],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    cfg = RunConfig.from_dict({k: v for k, v in json.loads((run / "config.json").read_text()).items() if k != "provenance"})
    train(cfg, tmp_path / "one")
    one, two = (checkpoint.load(d / "last.pt")["method"] for d in (tmp_path / "one", run))
    assert all(torch.allclose(one[k], v, atol=1e-5) for k, v in two.items() if v.is_floating_point())
