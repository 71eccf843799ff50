"""The one table of what a plugin can add: for each kind, its hook, config key, factory context and contract.

The registry (which hooks to call and what to check), ``dann plugins`` (what each plugin provides),
the run config (``method`` names a method, ``select`` a selector) and the contract checks all read
:data:`TABLE`; adding a kind is one row here plus its hook spec in :mod:`dann_core.hookspecs`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from . import contracts


@dataclass(frozen=True)
class Kind:
    """One kind of thing plugins add.

    ``name`` is singular (``Registry.get(name, ...)``); ``hook`` the ``register_*`` hook that returns
    them; ``config_key`` the run setting that names the chosen one (its options table is
    ``<config_key>_options``), None when a run does not pick one by name; ``context`` the keyword
    arguments the host passes a factory besides its options; ``contract`` says why a built
    component is invalid (in words) or returns None. ``component`` is false for hook-only kinds
    (commands: the hook adds them to the CLI itself, no ComponentSpec is registered).
    ``legacy_hooks`` are the kind's hooks under their old names: still called, and a plugin that
    implements one is warned once (:data:`LEGACY_HOOKS`).
    """

    name: str
    hook: str
    config_key: str | None
    context: tuple[str, ...]
    contract: Callable[[Any], str | None] | None = None
    component: bool = True
    legacy_hooks: tuple[str, ...] = ()

    @property
    def hooks(self) -> tuple[str, ...]:
        """The hook and its legacy names: every hook whose results are components of this kind."""
        return (self.hook, *self.legacy_hooks)

    @property
    def plural(self) -> str:
        """``datasets``: the key of this kind in listings and :meth:`Registry.describe`."""
        return f"{self.name}s"


TABLE: tuple[Kind, ...] = (
    Kind("dataset", "register_datasets", "dataset", ("seed",), contracts.dataset_problem),
    Kind("backbone", "register_backbones", "backbone", ("input_shape",), contracts.backbone_problem),
    Kind("discriminator", "register_discriminators", "discriminator", ("in_features", "num_domains"), contracts.module_problem),
    Kind("method", "register_methods", "method", ("context",), contracts.method_problem, legacy_hooks=("register_algorithms",)),
    Kind("selector", "register_selectors", "select", (), contracts.selector_problem),
    Kind("logger", "register_loggers", None, ("run_dir",), contracts.logger_problem),
    Kind("launcher", "register_launchers", None, ("workers",), contracts.launcher_problem),
    Kind("command", "register_commands", None, ("cli",), component=False),
)

BY_NAME: dict[str, Kind] = {kind.name: kind for kind in TABLE}
COMPONENT_KINDS: tuple[str, ...] = tuple(kind.name for kind in TABLE if kind.component)
"""Kinds registered as ComponentSpecs, in listing order (``Registry.of_kind`` takes these)."""
CONFIG_KINDS: dict[str, str] = {kind.config_key: kind.name for kind in TABLE if kind.config_key}
"""Config key → kind of each component a run is built from (``method`` → ``method``, ``select`` → ``selector``)."""
LEGACY_KINDS: dict[str, str] = {"algorithm": "method"}
"""Old kind name → its new name, still accepted by the registry (with one DeprecationWarning)."""
LEGACY_HOOKS: dict[str, str] = {old: kind.hook for kind in TABLE for old in kind.legacy_hooks}
"""Old hook name → its new name (``register_algorithms`` → ``register_methods``)."""


def contract_problem(kind: str, built: Any) -> str | None:
    """Why ``built`` is not a valid ``kind`` (in words, starting "returned ..."), or None."""
    check = BY_NAME[kind].contract
    return check(built) if check else None
