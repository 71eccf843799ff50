"""First-party dann discriminators plugin: mlp.

It outputs logits of shape (N, 1) for ``num_domains == 2`` (binary, positive = target) and
(N, num_domains) otherwise: K-way multi-source training uses the same names with ``num_domains=K``
(there is no separate "multi" discriminator). Wired through the ``dann`` entry point
``discriminators = "dann_discriminators"``.
"""
from __future__ import annotations

from dann_core import hookimpl
from dann_core.specs import ComponentSpec


@hookimpl
def register_discriminators() -> list[ComponentSpec]:
    """The built-in discriminators."""
    return [
        ComponentSpec.from_reference("mlp", "dann_discriminators.mlp:make_mlp_discriminator"),
    ]
