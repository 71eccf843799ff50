"""``auto``: the built-in backbone that fits the inputs' shape (what the npz dataset recommends).

A dataset whose shape is known only once its file is read (npz) cannot recommend ``lenet`` or
``mlp`` by name; it recommends ``auto``, which builds the measured recipe for the shape it is given
(docs/benchmarks.md, "Recipes"):

- images ``(C, H, W)`` at least :data:`LENET_SIDE` pixels a side: ``lenet`` with batch norm
  (LeNet-BN, the network the digits recipe uses);
- anything else (feature vectors, smaller images, flattened): ``mlp`` of :data:`TABULAR` (ReLU
  units with batch norm).

The choice depends on the shape only, so a run's checkpoints always fit the network ``auto``
rebuilds from its config.json.
"""
from __future__ import annotations

from torch import nn

from .lenet import make_lenet
from .mlp import make_mlp

LENET_SIDE = 16
"""The smallest image side LeNet's two conv5 + maxpool2 stages take (16 px leave a 1×1 grid)."""
TABULAR = {"width": 128, "depth": 1, "activation": "relu", "norm": "batch"}
"""The MLP ``auto`` builds for feature vectors: the one source-val chose among the measured ones
(benchmarks/recipe_tabular.py)."""


def chosen(input_shape: tuple[int, ...]) -> tuple[str, dict]:
    """(backbone name, its options) that ``auto`` builds for ``input_shape``."""
    if len(input_shape) == 3 and min(input_shape[1:]) >= LENET_SIDE:
        return "lenet", {"norm": "batch"}
    return "mlp", dict(TABULAR)


def make_auto(input_shape: tuple[int, ...]) -> nn.Module:
    """lenet with batch norm for images of at least 16 px a side, else an MLP of one 128-unit ReLU
    layer with batch norm (the npz dataset's recommendation: docs/benchmarks.md, "Recipes").

    No options: name the backbone itself (``--backbone lenet --set backbone.norm=domain``) to
    choose differently.
    """
    name, options = chosen(tuple(input_shape))
    factory = make_lenet if name == "lenet" else make_mlp
    return factory(tuple(input_shape), **options)
