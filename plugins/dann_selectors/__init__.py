"""First-party dann selectors plugin: last, source-val, dev, entropy, snd, reverse-val, ensv, mixval, iw,
bnm, classami, atc.

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
        ComponentSpec.from_reference("ensv", "dann_selectors.ensv:EnsV"),
        ComponentSpec.from_reference("mixval", "dann_selectors.mixval:MixVal"),
        ComponentSpec.from_reference("iw", "dann_selectors.iw:IW"),
        ComponentSpec.from_reference("bnm", "dann_selectors.bnm:BNM"),
        ComponentSpec.from_reference("classami", "dann_selectors.classami:ClassAMI"),
        ComponentSpec.from_reference("atc", "dann_selectors.estimated:EstimatedAccuracy"),
    ]
