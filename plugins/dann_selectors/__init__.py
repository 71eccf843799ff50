"""First-party dann selectors plugin: last, source-val, dev, entropy, snd, reverse-val.

Each scores a candidate checkpoint from source data and unlabelled target inputs only
(:class:`dann_core.selection.SelectionData` holds no target label). Wired through the ``dann``
entry point ``selectors = "dann_selectors"``.
"""
from __future__ import annotations

from dann_core import hookimpl
from dann_core.specs import ComponentSpec


@hookimpl
def register_selectors() -> list[ComponentSpec]:
    """The built-in selectors."""
    return [
        ComponentSpec.from_reference("last", "dann_selectors.simple:Last"),
        ComponentSpec.from_reference("source-val", "dann_selectors.simple:SourceVal"),
        ComponentSpec.from_reference("dev", "dann_selectors.dev:DEV"),
        ComponentSpec.from_reference("entropy", "dann_selectors.target:Entropy"),
        ComponentSpec.from_reference("snd", "dann_selectors.target:SND"),
        ComponentSpec.from_reference("reverse-val", "dann_selectors.reverse:ReverseValidation"),
    ]
