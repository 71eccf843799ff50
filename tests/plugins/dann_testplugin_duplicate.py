"""A test plugin that registers a dataset named "moons", clashing with the built-in one."""
from __future__ import annotations

from dann_core import hookimpl
from dann_core.specs import ComponentSpec


def make_other_moons(seed: int):
    """Not the real moons."""
    raise AssertionError("never built in tests")


@hookimpl
def register_datasets():
    return [ComponentSpec.from_factory("moons", make_other_moons)]
