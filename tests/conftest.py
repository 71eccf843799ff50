"""Shared fixtures: a tiny, seconds-fast training config on moons."""
from __future__ import annotations

import pytest

from dann_core.config import RunConfig
from dann_core.testing import TINY_SETTINGS


@pytest.fixture
def tiny_config() -> RunConfig:
    """A fresh tiny moons RunConfig (callers may change fields freely)."""
    return RunConfig(**TINY_SETTINGS)
