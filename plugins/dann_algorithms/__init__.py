"""First-party dann algorithms plugin: dann, cdan, source-only and target-oracle.

Wired through the ``dann`` entry point ``algorithms = "dann_algorithms"``, exactly as a third-party
package would add its own method.
"""
from __future__ import annotations

from dann_core import hookimpl
from dann_core.specs import ComponentSpec


@hookimpl
def register_algorithms() -> list[ComponentSpec]:
    """The built-in training methods."""
    from .cdan import CDAN
    from .dann import DANN
    from .supervised import SourceOnly, TargetOracle

    return [
        ComponentSpec.from_factory("dann", DANN),
        ComponentSpec.from_factory("cdan", CDAN),
        ComponentSpec.from_factory("source-only", SourceOnly),
        ComponentSpec.from_factory("target-oracle", TargetOracle),
    ]
