"""The plugin manager: the hook specs, then the ``dann`` entry-point group.

:func:`get_plugin_manager` builds a fresh ``pluggy.PluginManager`` on every call (nothing is cached
at module level). The ``dann`` distribution's own entry points (the built-in datasets, backbones,
discriminators, algorithms, evaluation commands) always load; third-party ones load unless
autoloading is off (``autoload=False``, ``DANN_DISABLE_PLUGIN_AUTOLOAD=1``, the CLI's ``--no-plugins``).
Tests and notebooks register their own plugins on a manager with ``pm.register(module)`` and pass
``get_registry(pm)`` as ``registry=`` to the training and evaluation functions.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from importlib import metadata
from typing import Any

import pluggy

from .. import hookspecs
from .errors import PluginLoadError, suggest
from .options import TRUE_WORDS

PROJECT_NAME = "dann"
ENTRY_POINT_GROUP = "dann"
FIRST_PARTY_DISTRIBUTION = "dann"
AUTOLOAD_ENV = "DANN_DISABLE_PLUGIN_AUTOLOAD"


@dataclass(frozen=True)
class PluginSource:
    """Where an entry-point plugin came from."""

    distribution: str
    version: str
    entry_point: str


class DannPluginManager(pluggy.PluginManager):
    """A ``pluggy.PluginManager`` that also remembers each entry-point plugin's distribution."""

    def __init__(self) -> None:
        super().__init__(PROJECT_NAME)
        self.sources: dict[str, PluginSource] = {}


def autoload_enabled(autoload: bool | None = None) -> bool:
    """``autoload`` when given, else true unless ``DANN_DISABLE_PLUGIN_AUTOLOAD`` is set to a true word."""
    if autoload is not None:
        return autoload
    return os.environ.get(AUTOLOAD_ENV, "").strip().lower() not in TRUE_WORDS


def get_plugin_manager(autoload: bool | None = None) -> DannPluginManager:
    """A fresh plugin manager with the specs added and the ``dann`` entry points loaded.

    First-party entry points (distribution ``dann``) always load; third-party ones only when
    :func:`autoload_enabled` (a disabled one is never imported). Raises :class:`PluginLoadError`
    naming the distribution and entry point of a plugin that fails to import.
    """
    pm = DannPluginManager()
    pm.add_hookspecs(hookspecs)
    load_third_party = autoload_enabled(autoload)
    for dist, entry_point in _dann_entry_points():
        dist_name = dist.metadata["Name"]
        if normalise(dist_name) != FIRST_PARTY_DISTRIBUTION and not load_third_party:
            continue
        _register_entry_point(pm, dist_name, dist.version, entry_point)
    check_hook_names(pm)
    return pm


def check_hook_names(pm: pluggy.PluginManager) -> None:
    """Raise :class:`PluginLoadError` for an implementation of a hook that has no spec (a typo).

    ``get_plugin_manager`` runs it after loading entry points; call it again after registering
    plugins by hand. Implementations marked ``optionalhook=True`` are allowed.
    """
    callers = {name: caller for name, caller in vars(pm.hook).items() if isinstance(caller, pluggy.HookCaller)}
    known = sorted(name for name, caller in callers.items() if caller.has_spec())
    for name, caller in sorted(callers.items()):
        if caller.has_spec():
            continue
        for impl in caller.get_hookimpls():
            if not impl.optionalhook:
                raise PluginLoadError(
                    f"dann plugin '{impl.plugin_name}' implements unknown hook '{name}'; "
                    f"{suggest(name, known)}hooks: {', '.join(known)}"
                )


def _dann_entry_points() -> list:
    """(distribution, entry point) pairs of the ``dann`` group, first-party first, then by name.

    One distribution per name: the first found on sys.path, as ``import`` would pick.
    """
    found: dict[str, Any] = {}
    for dist in metadata.distributions():
        name = normalise(dist.metadata["Name"] or "")
        if name and name not in found:
            found[name] = dist
    ordered = sorted(found.items(), key=lambda item: (item[0] != FIRST_PARTY_DISTRIBUTION, item[0]))
    return [
        (dist, entry_point)
        for _, dist in ordered
        for entry_point in dist.entry_points
        if entry_point.group == ENTRY_POINT_GROUP
    ]


def _register_entry_point(pm: DannPluginManager, dist_name: str, version: str, entry_point) -> None:
    where = f"entry point '{entry_point.name} = {entry_point.value}' of distribution '{dist_name}'"
    existing = pm.sources.get(entry_point.name)
    if existing is not None:
        raise PluginLoadError(
            f"dann plugin name '{entry_point.name}' is used by two distributions: "
            f"'{existing.distribution}' and '{dist_name}'; rename one entry point"
        )
    try:
        plugin = entry_point.load()
    except Exception as exc:
        raise PluginLoadError(f"cannot load dann plugin from {where}: {type(exc).__name__}: {exc}") from exc
    try:
        pm.register(plugin, name=entry_point.name)
    except Exception as exc:
        raise PluginLoadError(f"cannot register dann plugin from {where}: {exc}") from exc
    pm.sources[entry_point.name] = PluginSource(dist_name, version, entry_point.value)


def normalise(distribution_name: str) -> str:
    """A distribution name as pip compares them (lower case, ``-`` for ``_`` and ``.``)."""
    return distribution_name.lower().replace("_", "-").replace(".", "-")
