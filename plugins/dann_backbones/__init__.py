"""First-party dann backbones plugin: mlp, lenet, svhn-net, resnet18, resnet50.

Every backbone takes ``input_shape`` plus its options, has ``out_features`` and
``default_head(num_classes)`` (the paper's label predictor for that architecture). Wired through the
``dann`` entry point ``backbones = "dann_backbones"``.
"""
from __future__ import annotations

from dann_core import hookimpl
from dann_core.specs import ComponentSpec

from .mlp import make_mlp


@hookimpl
def register_backbones() -> list[ComponentSpec]:
    """The built-in backbones."""
    return [
        ComponentSpec.from_factory("mlp", make_mlp),
    ]
