"""The table of regularisers and the method option ``plus`` that names them, without torch.

Registering a regulariser, or a method that takes ``plus`` (:func:`composable`), happens in a plugin's
``register_methods`` hook, which ``dann plugins`` and ``dann --help`` call: so this module imports
nothing heavy, and a regulariser given as ``"module:attr"`` is read, not imported
(:meth:`~dann_core.specs.ComponentSpec.from_reference`). What a regulariser is and how a method
applies one is :mod:`.regularizers`.

A regulariser's options are spelled ``NAME_OPTION`` among the method's (``mcc_weight``), and they
belong to the regulariser: a :class:`ComposableSpec` accepts them (so ``--set``, config files and
table entries coerce them like any option) only while NAME is in ``plus``, and ``dann plugins``
lists them once, under the regulariser, not under every method.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field, fields
from typing import Any, Callable

from ..options import InvalidOptionError, suggest
from ..specs import ComponentSpec

REGULARIZERS: dict[str, ComponentSpec] = {}
"""Registered regularisers by name (filled by :func:`register_regularizer`)."""


def register_regularizer(name: str, factory: Callable[..., Any] | str, description: str | None = None) -> ComponentSpec:
    """Make ``factory`` (or ``"module:attr"``, imported when first used) available as ``plus=NAME``;
    its options become ``NAME_OPTION`` method options, valid while NAME is in ``plus``."""
    if not re.fullmatch(r"[a-z][a-z0-9]*", name):
        raise ValueError(f"bad regulariser name {name!r}: use lower-case letters and digits (it prefixes its options)")
    make = ComponentSpec.from_reference if isinstance(factory, str) else ComponentSpec.from_factory
    spec = make(name, factory, description)
    REGULARIZERS[name] = spec
    return spec


def regularizer_options(names: list[str] | None = None) -> dict[str, Any]:
    """The options of the regularisers ``names`` (default: every registered one) as method options
    ``NAME_OPTION`` → default."""
    chosen = sorted(REGULARIZERS) if names is None else names
    return {f"{name}_{option}": default for name in chosen for option, default in REGULARIZERS[name].options.items()}


@dataclass(frozen=True)
class ComposableSpec(ComponentSpec):
    """The spec of a method that takes ``plus`` (made by :func:`composable`).

    ``options`` is every option the method accepts: its own (``own_options``, ``plus`` among them)
    and each regulariser's ``NAME_OPTION`` of ``regularizers`` (the table when it was composed).
    :func:`~dann_core.options.validate_options` calls :meth:`check_options`, which refuses a
    ``NAME_OPTION`` while NAME is not in ``plus``; listings show ``own_options`` only.
    """

    own_options: dict[str, Any] = field(default_factory=dict)
    regularizers: dict[str, ComponentSpec] = field(default_factory=dict)
    excluded: frozenset[str] = frozenset()

    def recomposed(self) -> "ComposableSpec":
        """This spec over the regulariser table as it is now (the registry calls it once every hook has
        run, so a regulariser registered by a hook called later still reaches this method)."""
        return composable(self, exclude=self.excluded)

    def option_owner(self, option: str) -> str | None:
        """The regulariser ``option`` belongs to (``mcc_weight`` → ``mcc``); None for the method's own."""
        if option in self.own_options:
            return None
        name, _, rest = option.partition("_")  # a regulariser's name holds no "_"
        return name if name in self.regularizers and rest in self.regularizers[name].options else None

    def plus_of(self, options: dict[str, Any]) -> list[str]:
        """The regularisers ``options`` name in ``plus`` (the method's default when not given); ValueError for a bad name."""
        return parse_plus(options.get("plus", self.own_options.get("plus", "")))

    def applicable_options(self, options: dict[str, Any]) -> list[str]:
        """The options that apply given ``options``: the method's own and those of the regularisers in its ``plus``."""
        try:
            names = self.plus_of(options)
        except ValueError:
            names = []
        return [*self.own_options, *(key for key in self.options if self.option_owner(key) in names)]

    def check_options(self, options: dict[str, Any]) -> None:
        """One-line ValueError for a bad ``plus`` in ``options`` (coerced, public names), or an
        :class:`InvalidOptionError` for a ``NAME_OPTION`` whose regulariser is not in it."""
        try:
            names = self.plus_of(options)
        except ValueError as exc:
            raise InvalidOptionError(str(exc)) from None
        refused = next((name for name in names if name in self.excluded), None)
        if refused:
            own = [option for option in REGULARIZERS[refused].options if option in self.own_options] if refused in REGULARIZERS else []
            instead = f" and set method.{' / method.'.join(own)} instead" if own else ""
            raise InvalidOptionError(f"method '{self.name}' adds {refused} itself: drop {refused} from plus{instead}")
        for key in options:
            owner = self.option_owner(key)
            if owner is not None and owner not in names:
                raise InvalidOptionError(misplaced_option(key, owner, names, f"method '{self.name}' "))


def misplaced_option(option: str, owner: str, plus: list[str], where: str = "method ") -> str:
    """The error line for ``option`` of regulariser ``owner`` given while ``plus`` does not name it."""
    now = ",".join(plus)
    fix = f"add plus={owner}" if not plus else f"add {owner} to plus (plus={now},{owner})"
    return f"{where}option '{option}' applies only with plus={owner} (plus is '{now}'); {fix} or drop it"


def composable(spec: ComponentSpec, exclude: tuple[str, ...] | frozenset[str] = ()) -> ComposableSpec:
    """``spec`` of a method whose factory takes ``plus`` and ``**regularizer_options``, as a
    :class:`ComposableSpec`: every registered regulariser's options are accepted as ``NAME_OPTION``
    (so ``--set`` validates and coerces them), while NAME is in ``plus``. ``exclude``: regularisers
    the method adds itself (``bsp`` for the method bsp), refused in its ``plus``."""
    own = dict(getattr(spec, "own_options", None) or spec.options)
    own.setdefault("plus", "")
    table = {name: REGULARIZERS[name] for name in sorted(REGULARIZERS) if name not in exclude}
    base = {f.name: getattr(spec, f.name) for f in fields(ComponentSpec)}
    options = {**own, **{key: value for key, value in regularizer_options(list(table)).items() if key not in own}}  # the method's own win
    return ComposableSpec(**{**base, "options": options}, own_options=own, regularizers=table, excluded=frozenset(exclude))


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
