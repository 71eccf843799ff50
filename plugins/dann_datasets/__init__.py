"""First-party dann datasets plugin: moons, digits-blend, npz, image-folder, mnist, mnist-m.

Each dataset lives in its own module; its factory's keyword defaults are its options (documented in
the factory's docstring, which ``dann plugins`` shows). All are offline: nothing is downloaded.
Wired through the ``dann`` entry point ``datasets = "dann_datasets"``.
"""
from __future__ import annotations

from dann_core import hookimpl
from dann_core.specs import ComponentSpec

from .digits_blend import make_digits_blend
from .image_folder import make_image_folder
from .mnist import make_mnist, make_mnist_m
from .moons import make_moons_problem
from .npz import make_npz


@hookimpl
def register_datasets() -> list[ComponentSpec]:
    """The built-in datasets."""
    return [
        ComponentSpec.from_factory("moons", make_moons_problem),
        ComponentSpec.from_factory("digits-blend", make_digits_blend),
        ComponentSpec.from_factory("npz", make_npz),
        ComponentSpec.from_factory("image-folder", make_image_folder),
        ComponentSpec.from_factory("mnist", make_mnist),
        ComponentSpec.from_factory("mnist-m", make_mnist_m),
    ]
