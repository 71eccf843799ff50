"""Shared fixtures: a tiny, seconds-fast training config on moons."""
from __future__ import annotations

import pytest

from dann_core.config import RunConfig

TINY_SETTINGS = {
    "steps": 20,
    "eval_every": 5,
    "batch_size": 16,
    "lr": 0.3,
    "method_options": {"lambda": "schedule"},
    "dataset_options": {"n_per_class": 30, "n_test_per_class": 40},
    "kernels": "reference",
}
"""Settings of a run that trains in well under a second (4 evaluations of 5 steps)."""


@pytest.fixture
def tiny_config() -> RunConfig:
    """A fresh tiny moons RunConfig (callers may change fields freely)."""
    return RunConfig(**TINY_SETTINGS)
