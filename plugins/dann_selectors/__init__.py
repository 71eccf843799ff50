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
    from .dev import DEV
    from .reverse import ReverseValidation
    from .simple import Last, SourceVal
    from .target import Entropy, SND

    return [
        ComponentSpec.from_factory("last", Last),
        ComponentSpec.from_factory("source-val", SourceVal),
        ComponentSpec.from_factory("dev", DEV),
        ComponentSpec.from_factory("entropy", Entropy),
        ComponentSpec.from_factory("snd", SND),
        ComponentSpec.from_factory("reverse-val", ReverseValidation),
    ]
