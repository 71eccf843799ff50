"""First-party dann datasets plugin: moons, digits-blend, npz, image-folder, mnist, mnist-m.

Each dataset lives in its own module; its factory's keyword defaults are its options (documented in
the factory's docstring, which ``dann plugins`` shows). Wired through the ``dann`` entry point
``datasets = "dann_datasets"``.
"""
from __future__ import annotations

from dann_core import hookimpl
from dann_core.specs import ComponentSpec

from .moons import make_moons_problem


@hookimpl
def register_datasets() -> list[ComponentSpec]:
    """The built-in datasets."""
    return [
        ComponentSpec.from_factory("moons", make_moons_problem),
    ]
