"""Shared fixtures: a tiny, seconds-fast training config on moons."""
from __future__ import annotations

import signal

import pytest

from dann_core.config import RunConfig
from dann_core.testing import TINY_SETTINGS


@pytest.fixture
def tiny_config() -> RunConfig:
    """A fresh tiny moons RunConfig (callers may change fields freely)."""
    return RunConfig(**TINY_SETTINGS)


def pytest_configure(config):
    # dann keeps a stop signal that was ignored when it started ignored (as under nohup), and children
    # inherit that: a suite started under nohup would give the SIGHUP drills a dann that cannot be hung up
    if hasattr(signal, "SIGHUP") and signal.getsignal(signal.SIGHUP) is signal.SIG_IGN:
        signal.signal(signal.SIGHUP, signal.SIG_DFL)
