"""The plugin manager: the hook specs, then the ``dann`` entry-point group.

:func:`get_plugin_manager` builds a fresh ``pluggy.PluginManager`` on every call (nothing is cached
at module level). The ``dann`` distribution's own entry points (the built-in datasets, backbones,
discriminators, methods, evaluation commands) always load; third-party ones load unless
autoloading is off (``autoload=False``, ``DANN_DISABLE_PLUGIN_AUTOLOAD=1``, the CLI's ``--no-plugins``).
A plugin that fails (raises or exits at import, clashes, implements an unknown hook, or whose hook
raises or returns the wrong thing) is skipped and recorded in ``pm.broken`` with its one-line error
(and a :class:`PluginWarning`): one broken plugin never takes the others down. A plugin that
implements a hook under its old name (``register_algorithms``) works, and is recorded in
``pm.deprecated`` with its one-line warning (also issued once as a ``DeprecationWarning``).
Tests and notebooks register their own plugins on a manager with ``pm.register(module)`` and pass
``get_registry(pm)`` as ``registry=`` to the training and evaluation functions.
"""
from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from importlib import metadata
from typing import Any

import pluggy

from .. import hookspecs
from .errors import PluginLoadError, PluginWarning, suggest
from .kinds import LEGACY_HOOKS
from ..options import TRUE_WORDS

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


@dataclass(frozen=True)
class BrokenPlugin:
    """A plugin that was skipped: its name, where it came from (None if registered by hand), why."""

    name: str
    distribution: str | None
    version: str | None
    error: str

    def describe(self) -> str:
        origin = f" ({self.distribution} {self.version})" if self.distribution else ""
        return f"dann plugin '{self.name}'{origin} is broken and was skipped: {self.error}"


class DannPluginManager(pluggy.PluginManager):
    """A ``pluggy.PluginManager`` that also remembers each entry-point plugin's distribution, and
    the plugins that broke (``broken``: name → :class:`BrokenPlugin`) and those that use an old
    hook name (``deprecated``: name → one-line warning)."""

    def __init__(self) -> None:
        super().__init__(PROJECT_NAME)
        self.sources: dict[str, PluginSource] = {}
        self.broken: dict[str, BrokenPlugin] = {}
        self.deprecated: dict[str, str] = {}

    def register(self, plugin: object, name: str | None = None) -> str | None:
        """``pluggy.PluginManager.register``; a plugin implementing an old hook name is warned once."""
        name = super().register(plugin, name)
        if name is not None:
            old = sorted(caller.name for caller in self.get_hookcallers(plugin) or [] if caller.name in LEGACY_HOOKS)
            if old and name not in self.deprecated:
                self.deprecated[name] = "; ".join(
                    f"dann plugin '{name}' implements {hook}, which is renamed {LEGACY_HOOKS[hook]}: rename the function (it works until then)"
                    for hook in old)
                warnings.warn(self.deprecated[name], DeprecationWarning, stacklevel=2)
        return name

    def mark_broken(self, name: str, error: str, source: PluginSource | None = None) -> None:
        """Skip plugin ``name`` from now on (unregister it) and record ``error`` (one line)."""
        source = source or self.sources.pop(name, None)
        if self.get_plugin(name) is not None:
            self.unregister(name=name)
        if name in self.broken:
            return
        self.broken[name] = BrokenPlugin(name, source.distribution if source else None, source.version if source else None, error.splitlines()[0])
        warnings.warn(self.broken[name].describe(), PluginWarning, stacklevel=2)


def mark_broken(pm: pluggy.PluginManager, name: str, error: str) -> None:
    """Record plugin ``name`` as broken on a :class:`DannPluginManager`; a plain pluggy manager raises instead."""
    if isinstance(pm, DannPluginManager):
        pm.mark_broken(name, error)
    else:
        raise PluginLoadError(f"dann plugin '{name}': {error}")


def autoload_enabled(autoload: bool | None = None) -> bool:
    """``autoload`` when given, else true unless ``DANN_DISABLE_PLUGIN_AUTOLOAD`` is set to a true word."""
    if autoload is not None:
        return autoload
    return os.environ.get(AUTOLOAD_ENV, "").strip().lower() not in TRUE_WORDS


def get_plugin_manager(autoload: bool | None = None) -> DannPluginManager:
    """A fresh plugin manager with the specs added and the ``dann`` entry points loaded.

    First-party entry points (distribution ``dann``) always load; third-party ones only when
    :func:`autoload_enabled` (a disabled one is never imported). A plugin that fails to import or
    register is recorded in ``pm.broken`` (naming its distribution and entry point) and skipped.
    """
    pm = DannPluginManager()
    pm.add_hookspecs(hookspecs)
    load_third_party = autoload_enabled(autoload)
    for dist, entry_point in _dann_entry_points():
        dist_name = dist.metadata["Name"]
        if normalise(dist_name) != FIRST_PARTY_DISTRIBUTION and not load_third_party:
            continue
        _register_entry_point(pm, dist_name, dist.version, entry_point)
    for plugin_name, error in unknown_hooks(pm):
        pm.mark_broken(plugin_name, error)
    return pm


def check_hook_names(pm: pluggy.PluginManager) -> None:
    """Raise :class:`PluginLoadError` for an implementation of a hook that has no spec (a typo).

    ``get_plugin_manager`` runs it after loading entry points; call it again after registering
    plugins by hand. Implementations marked ``optionalhook=True`` are allowed.
    """
    for plugin_name, error in unknown_hooks(pm):
        raise PluginLoadError(f"dann plugin '{plugin_name}' {error}")


def unknown_hooks(pm: pluggy.PluginManager) -> list[tuple[str, str]]:
    """(plugin name, error) for each implementation of a hook that has no spec."""
    callers = {name: caller for name, caller in vars(pm.hook).items() if isinstance(caller, pluggy.HookCaller)}
    known = sorted(name for name, caller in callers.items() if caller.has_spec() and name not in LEGACY_HOOKS)  # the current names only
    found = []
    for name, caller in sorted(callers.items()):
        if caller.has_spec():
            continue
        for impl in caller.get_hookimpls():
            if not impl.optionalhook:
                found.append((impl.plugin_name, f"implements unknown hook '{name}'; {suggest(name, known)}hooks: {', '.join(known)}"))
    return found


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
    source = PluginSource(dist_name, version, entry_point.value)
    existing = pm.sources.get(entry_point.name)
    if existing is not None:
        error = (
            f"dann plugin name '{entry_point.name}' is used by two distributions: "
            f"'{existing.distribution}' and '{dist_name}'; rename one entry point"
        )
        pm.mark_broken(f"{entry_point.name} ({dist_name})", error, source)
        return
    try:
        plugin = entry_point.load()
    except (Exception, SystemExit) as exc:  # a plugin calling sys.exit at import must not end the host
        pm.mark_broken(entry_point.name, f"cannot load dann plugin from {where}: {describe_exception(exc)}", source)
        return
    problem = api_version_problem(plugin)
    if problem:
        pm.mark_broken(entry_point.name, problem, source)
        return
    try:
        pm.register(plugin, name=entry_point.name)
    except Exception as exc:
        pm.mark_broken(entry_point.name, f"cannot register dann plugin from {where}: {describe_exception(exc)}", source)
        return
    pm.sources[entry_point.name] = source


API_ATTRIBUTE = "DANN_PLUGIN_API"


def api_version_problem(plugin: Any) -> str | None:
    """Why ``plugin`` cannot run on this dann (its ``DANN_PLUGIN_API`` has a newer major), or None."""
    from .. import PLUGIN_API_VERSION, __version__

    declared = getattr(plugin, API_ATTRIBUTE, None)
    if declared is None:
        return None
    try:
        major = int(str(declared).split(".")[0])
    except ValueError:
        return f"{API_ATTRIBUTE} = {declared!r} is not a version such as \"{PLUGIN_API_VERSION}\""
    if major > int(PLUGIN_API_VERSION.split(".")[0]):
        return f"it needs dann plugin API {declared}, this dann {__version__} provides {PLUGIN_API_VERSION}; upgrade dann"
    return None


def describe_exception(exc: BaseException) -> str:
    """``Type: first line of the message`` (``SystemExit: 3`` for sys.exit(3))."""
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0]}" if text else type(exc).__name__


def normalise(distribution_name: str) -> str:
    """A distribution name as pip compares them (lower case, ``-`` for ``_`` and ``.``)."""
    return distribution_name.lower().replace("_", "-").replace(".", "-")
