"""First-party dann discriminators plugin: mlp (two-way or K-way) and conditional (CDAN).

Both output logits of shape (N, 1) for ``num_domains == 2`` (positive = target) and
(N, num_domains) otherwise, so the same names serve multi-source training. Wired through the
``dann`` entry point ``discriminators = "dann_discriminators"``.
"""
from __future__ import annotations

from dann_core import hookimpl
from dann_core.specs import ComponentSpec

from .mlp import make_mlp_discriminator


@hookimpl
def register_discriminators() -> list[ComponentSpec]:
    """The built-in discriminators."""
    return [
        ComponentSpec.from_factory("mlp", make_mlp_discriminator),
    ]
