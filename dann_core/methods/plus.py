"""The table of regularisers and the method option ``plus`` that names them, without torch.

Registering a regulariser, or a method that takes ``plus`` (:func:`composable`), happens in a plugin's
``register_methods`` hook, which ``dann plugins`` and ``dann --help`` call: so this module imports
nothing heavy, and a regulariser given as ``"module:attr"`` is read, not imported
(:meth:`~dann_core.specs.ComponentSpec.from_reference`). What a regulariser is and how a method
applies one is :mod:`.regularizers`.
"""
from __future__ import annotations

import re
from dataclasses import replace
from typing import Any, Callable

from ..options import suggest
from ..specs import ComponentSpec

REGULARIZERS: dict[str, ComponentSpec] = {}
"""Registered regularisers by name (filled by :func:`register_regularizer`)."""


def register_regularizer(name: str, factory: Callable[..., Any] | str, description: str | None = None) -> ComponentSpec:
    """Make ``factory`` (or ``"module:attr"``, imported when first used) available as ``plus=NAME``;
    its options become ``NAME_OPTION`` method options."""
    if not re.fullmatch(r"[a-z][a-z0-9]*", name):
        raise ValueError(f"bad regulariser name {name!r}: use lower-case letters and digits (it prefixes its options)")
    make = ComponentSpec.from_reference if isinstance(factory, str) else ComponentSpec.from_factory
    spec = make(name, factory, description)
    REGULARIZERS[name] = spec
    return spec


def regularizer_options() -> dict[str, Any]:
    """Every registered regulariser's options as method options ``NAME_OPTION`` → default."""
    return {f"{name}_{option}": default for name, spec in sorted(REGULARIZERS.items()) for option, default in spec.options.items()}


def composable(spec: ComponentSpec) -> ComponentSpec:
    """``spec`` of a method whose factory takes ``plus`` and ``**regularizer_options``, with the
    regularisers' options added to the options it declares (so ``--set`` validates and coerces them)."""
    return replace(spec, options={**spec.options, "plus": spec.options.get("plus", ""), **regularizer_options()})


def parse_plus(plus: str | list[str] | tuple[str, ...]) -> list[str]:
    """``'mcc,bsp'`` or ``'mcc+bsp'`` → ['mcc', 'bsp']; one-line ValueError for a name not registered."""
    names = [n.strip() for n in (re.split(r"[,+]", plus) if isinstance(plus, str) else plus) if n.strip()]
    for name in names:
        if name not in REGULARIZERS:
            known = ", ".join(sorted(REGULARIZERS)) or "(none registered)"
            raise ValueError(f"unknown regulariser '{name}' in method option plus; {suggest(name, REGULARIZERS)}known regularisers: {known}")
    if len(set(names)) != len(names):
        raise ValueError(f"method option plus={','.join(names)} names a regulariser twice")
    return names
