"""load_run builds a run under its seed and leaves the caller's global RNGs as they were."""
from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from dann_core.config import RunConfig
from dann_core.testing import TINY_SETTINGS
from dann_core.train import load_run, train


def draws() -> tuple[list[float], list[float], list[float]]:
    return torch.rand(4).tolist(), np.random.rand(4).tolist(), [random.random() for _ in range(4)]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("rng") / "run"
    train(RunConfig(**{**TINY_SETTINGS, "steps": 10, "eval_every": 5, "threads": 1}), path)
    return path


def test_a_script_draws_the_same_numbers_with_or_without_load_run_in_between(run_dir):
    torch.manual_seed(1234)
    np.random.seed(99)
    random.seed(7)
    draws()  # somewhere in the middle of the script's streams, not at a seed
    torch_state, numpy_state, python_state = torch.get_rng_state(), np.random.get_state(), random.getstate()
    expected = draws()

    torch.set_rng_state(torch_state)
    np.random.set_state(numpy_state)
    random.setstate(python_state)
    run = load_run(run_dir)
    assert run.step == 10 and not run.model.training
    assert torch.equal(torch.get_rng_state(), torch_state) and random.getstate() == python_state
    assert draws() == expected


def test_the_run_loads_the_same_whatever_the_callers_rngs(run_dir):
    torch.manual_seed(0)
    first = load_run(run_dir, checkpoint="last")
    torch.manual_seed(1)
    np.random.seed(1)
    second = load_run(run_dir, checkpoint="last")
    assert first.data.source_train.x.equal(second.data.source_train.x)
    for (name, a), b in zip(first.method.state_dict().items(), second.method.state_dict().values()):
        assert torch.equal(a, b), name


@pytest.mark.skipif(torch.cuda.is_available() and torch.cuda.is_initialized(), reason="CUDA initialised: no seed is queued")
def test_the_seed_torch_queues_for_cuda_stays_the_callers(run_dir):
    """torch.manual_seed queues a CUDA seed until CUDA starts (on machines without a GPU too): the run's
    seed must not replace the caller's there."""
    tracker = getattr(torch.cuda, "_lazy_seed_tracker", None)
    if tracker is None:
        pytest.skip("this torch keeps no queued CUDA seed")
    torch.manual_seed(4321)
    queued = dict(vars(tracker))
    load_run(run_dir)
    assert vars(tracker) == queued


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_generators_are_left_alone(run_dir):
    torch.cuda.manual_seed_all(55)
    torch.cuda.init()
    states = torch.cuda.get_rng_state_all()
    load_run(run_dir, device="cuda")
    assert all(torch.equal(a, b) for a, b in zip(torch.cuda.get_rng_state_all(), states))
