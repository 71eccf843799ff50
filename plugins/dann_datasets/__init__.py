"""First-party dann datasets plugin: moons, digits-blend, npz, image-folder, mnist, mnist-m.

Each dataset lives in its own module; its factory's keyword defaults are its options (documented in
the factory's docstring, which ``dann plugins`` shows). All are offline: nothing is downloaded.
Wired through the ``dann`` entry point ``datasets = "dann_datasets"``. Each spec recommends the
recipe it was measured with (``dann plugins --verbose`` shows them); explicit settings override them.
"""
from __future__ import annotations

from dann_core import hookimpl
from dann_core.specs import ComponentSpec


MOONS_RECIPE = {"backbone": "mlp", "lr": 0.1, "method.lambda": 6.0}
"""The JMLR 2016 §5.1.1 toy: a shallow MLP, constant λ = 6 (measured: DANN 0.963 vs source-only 0.733)."""
DIGITS_RECIPE = {"backbone": "lenet", "lr": 0.03, "steps": 3000, "method.lambda": "schedule"}
"""The paper's LeNet recipe as measured on digits-blend (shared/NOTES.md: DANN ≈0.865 at the last step)."""
PAPER_DIGITS_RECIPE = {"backbone": "lenet", "method.lambda": "schedule"}
"""The paper's MNIST → MNIST-M architecture and λ ramp (μ0 = 0.01 is already the default)."""
NPZ_RECIPE = {"backbone": "auto"}
"""Arrays of any shape: the ``auto`` backbone builds the measured recipe for the shape the file holds
(images: LeNet-BN; feature vectors: one 128-unit ReLU layer with batch norm, not the 15-sigmoid toy;
docs/benchmarks.md#recipes). lr 0.01, 3000 steps and the λ schedule are the defaults it was measured with."""


@hookimpl
def register_datasets() -> list[ComponentSpec]:
    """The built-in datasets."""
    return [
        ComponentSpec.from_reference("moons", "dann_datasets.moons:make_moons_problem", recommended=MOONS_RECIPE),
        ComponentSpec.from_reference("digits-blend", "dann_datasets.digits_blend:make_digits_blend", recommended=DIGITS_RECIPE),
        ComponentSpec.from_reference("npz", "dann_datasets.npz:make_npz", recommended=NPZ_RECIPE),
        ComponentSpec.from_reference("image-folder", "dann_datasets.image_folder:make_image_folder"),
        ComponentSpec.from_reference("mnist", "dann_datasets.mnist:make_mnist", recommended=PAPER_DIGITS_RECIPE),
        ComponentSpec.from_reference("mnist-m", "dann_datasets.mnist:make_mnist_m", recommended=PAPER_DIGITS_RECIPE),
    ]
