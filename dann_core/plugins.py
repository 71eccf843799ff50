"""Finding plugins and the components they register.

- :func:`get_plugin_manager` builds a fresh ``pluggy.PluginManager`` on every call (nothing is
  cached at module level): add the specs of :mod:`dann_core.hookspecs`, then load the ``dann``
  entry-point group. The ``dann`` distribution's own entry points (the built-in datasets, backbones,
  discriminators, ...) always load; third-party ones load unless autoloading is off
  (``autoload=False``, or ``DANN_DISABLE_PLUGIN_AUTOLOAD=1``; the CLI's ``--no-plugins``).
  Tests register their own plugins on a fresh manager with ``pm.register(module)``.
- :func:`get_registry` collects every registered component into a :class:`Registry`, which looks
  names up (:meth:`Registry.get`), validates and coerces options and calls factories
  (:meth:`Registry.build`), and describes itself for ``dann plugins`` (:meth:`Registry.describe`).
- :func:`plugin_listing` and :func:`format_listing` are the data and the text of ``dann plugins``.

Errors are one line and name the culprit: :class:`PluginLoadError` (a plugin that fails to import
or returns something that is not a ``ComponentSpec``), :class:`DuplicateComponentError` (a name
registered by two plugins), :class:`UnknownComponentError` and :class:`InvalidOptionError`.
"""
from __future__ import annotations

import difflib
import inspect
import os
from dataclasses import dataclass
from importlib import metadata
from typing import Any

import pluggy

from . import hookspecs
from .specs import ComponentSpec

PROJECT_NAME = "dann"
ENTRY_POINT_GROUP = "dann"
FIRST_PARTY_DISTRIBUTION = "dann"
AUTOLOAD_ENV = "DANN_DISABLE_PLUGIN_AUTOLOAD"

KINDS = ("dataset", "backbone", "discriminator")
"""Component kinds, singular, as :meth:`Registry.get` and :meth:`Registry.build` take them."""
_HOOK_OF_KIND = {kind: f"register_{kind}s" for kind in KINDS}
_TRUE_WORDS = {"true", "1", "yes", "on", "y", "t"}
_FALSE_WORDS = {"false", "0", "no", "off", "n", "f"}
_NONE_WORDS = {"none", "null", "~"}


class PluginLoadError(RuntimeError):
    """A plugin failed to import, clashed with another plugin's name, or returned bad data."""


class DuplicateComponentError(ValueError):
    """Two plugins registered a component of the same kind under the same name."""


class UnknownComponentError(ValueError):
    """A component name that no plugin registered."""


class InvalidOptionError(ValueError):
    """An option a component does not take, or a value that cannot be coerced to its type."""


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
    return os.environ.get(AUTOLOAD_ENV, "").strip().lower() not in _TRUE_WORDS


def get_plugin_manager(autoload: bool | None = None) -> DannPluginManager:
    """A fresh plugin manager with the specs added and the ``dann`` entry points loaded.

    First-party entry points (distribution ``dann``) always load; third-party ones only when
    :func:`autoload_enabled`. Raises :class:`PluginLoadError` naming the distribution and entry
    point of a plugin that fails to import.
    """
    pm = DannPluginManager()
    pm.add_hookspecs(hookspecs)
    load_third_party = autoload_enabled(autoload)
    for dist, entry_point in _dann_entry_points():
        dist_name = dist.metadata["Name"]
        if _normalise(dist_name) != FIRST_PARTY_DISTRIBUTION and not load_third_party:
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
                    f"{_suggest(name, known)}hooks: {', '.join(known)}"
                )


def _dann_entry_points() -> list:
    """(distribution, entry point) pairs of the ``dann`` group, first-party first, then by name.

    One distribution per name: the first found on sys.path, as ``import`` would pick.
    """
    found: dict[str, Any] = {}
    for dist in metadata.distributions():
        name = _normalise(dist.metadata["Name"] or "")
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


def _normalise(distribution_name: str) -> str:
    return distribution_name.lower().replace("_", "-").replace(".", "-")


# --------------------------------------------------------------------------------------- registry


class Registry:
    """Every dataset, backbone and discriminator the plugins of one manager register.

    ``datasets``, ``backbones`` and ``discriminators`` map names to :class:`ComponentSpec`;
    ``provider[(kind, name)]`` is the name of the plugin that registered it.
    """

    def __init__(self, pm: pluggy.PluginManager) -> None:
        self.pm = pm
        self.provider: dict[tuple[str, str], str] = {}
        self.datasets = self._collect("dataset")
        self.backbones = self._collect("backbone")
        self.discriminators = self._collect("discriminator")

    def _collect(self, kind: str) -> dict[str, ComponentSpec]:
        specs: dict[str, ComponentSpec] = {}
        for plugin_name, returned in _call_each(self.pm, _HOOK_OF_KIND[kind]):
            for spec in returned or []:
                if not isinstance(spec, ComponentSpec):
                    raise PluginLoadError(
                        f"plugin '{plugin_name}' {_HOOK_OF_KIND[kind]}() returned "
                        f"{type(spec).__name__}, expected dann_core.specs.ComponentSpec"
                    )
                if spec.name in specs:
                    other = self.provider[(kind, spec.name)]
                    raise DuplicateComponentError(
                        f"{kind} '{spec.name}' is registered by two plugins: '{other}' and '{plugin_name}'"
                    )
                specs[spec.name] = spec
                self.provider[(kind, spec.name)] = plugin_name
        return dict(sorted(specs.items()))

    def of_kind(self, kind: str) -> dict[str, ComponentSpec]:
        """The name → spec table of ``kind`` ("dataset", "backbone" or "discriminator")."""
        if kind not in KINDS:
            raise ValueError(f"unknown component kind '{kind}'; choices: {', '.join(KINDS)}")
        return getattr(self, f"{kind}s")

    def get(self, kind: str, name: str) -> ComponentSpec:
        """The spec registered as ``name``; :class:`UnknownComponentError` lists the choices otherwise."""
        table = self.of_kind(kind)
        if name in table:
            return table[name]
        raise UnknownComponentError(f"unknown {kind} '{name}'; {_suggest(name, table)}choices: {_names(table)}")

    def build(self, kind: str, name: str, options: dict[str, Any] | None = None, **context: Any) -> Any:
        """Validate and coerce ``options`` against the spec, then call ``spec.factory(**context, **options)``.

        Option names may use ``-`` for ``_``. String values are coerced to the type of the option's
        default (see :func:`coerce_option`); options not given keep the factory's defaults.
        """
        spec = self.get(kind, name)
        coerced = validate_options(spec, options or {}, kind=kind)
        clash = sorted(set(coerced) & set(context))
        if clash:
            raise InvalidOptionError(
                f"{kind} '{name}' option '{clash[0]}' collides with a context argument the caller passes"
            )
        return spec.factory(**context, **coerced)

    def describe(self) -> dict[str, Any]:
        """JSON-ready data for ``dann plugins``: the plugin listing and every component with its options."""
        components = {
            f"{kind}s": [
                {
                    "name": spec.name,
                    "description": spec.description,
                    "options": {key: _jsonable(value) for key, value in spec.options.items()},
                    "plugin": self.provider[(kind, spec.name)],
                    "doc": inspect.getdoc(spec.factory) or "",
                }
                for spec in self.of_kind(kind).values()
            ]
            for kind in KINDS
        }
        return {"plugins": plugin_listing(self.pm), "components": components}


def get_registry(pm: pluggy.PluginManager | None = None) -> Registry:
    """The :class:`Registry` of ``pm`` (a fresh :func:`get_plugin_manager` when omitted)."""
    return Registry(pm if pm is not None else get_plugin_manager())


def _call_each(pm: pluggy.PluginManager, hook_name: str, only: str | None = None, **kwargs: Any):
    """(plugin name, result) for each implementation of ``hook_name`` (of plugin ``only`` if given)."""
    for impl in getattr(pm.hook, hook_name).get_hookimpls():
        if only is None or impl.plugin_name == only:
            yield impl.plugin_name, impl.function(**{arg: kwargs[arg] for arg in impl.argnames})


def _names(table: dict[str, Any]) -> str:
    return ", ".join(sorted(table)) or "(none registered)"


def _suggest(name: str, choices) -> str:
    close = difflib.get_close_matches(str(name), list(choices), n=1, cutoff=0.5)
    return f"did you mean '{close[0]}'? " if close else ""


def _jsonable(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


# ---------------------------------------------------------------------------------------- options


def validate_options(spec: ComponentSpec, options: dict[str, Any], *, kind: str = "component") -> dict[str, Any]:
    """``options`` with names checked against ``spec.options`` and values coerced to the defaults' types."""
    coerced = {}
    for raw_key, value in options.items():
        key = str(raw_key).replace("-", "_")
        if key not in spec.options:
            valid = ", ".join(sorted(spec.options)) or "(it takes no options)"
            raise InvalidOptionError(
                f"unknown option '{raw_key}' for {kind} '{spec.name}'; "
                f"{_suggest(key, spec.options)}valid options: {valid}"
            )
        coerced[key] = coerce_option(value, spec.options[key], where=f"{kind} '{spec.name}' option '{key}'")
    return coerced


def coerce_option(value: Any, default: Any, *, where: str = "option") -> Any:
    """Coerce ``value`` to the type of ``default``.

    Strings: bool from true/false/1/0/yes/no/on/off; int; float; tuple/list from comma-separated
    items (each coerced like the default's first item, or as a number when the default is empty;
    ``""`` gives an empty sequence); a ``None`` default accepts a number or a string ("none"/"null"
    give None). Non-strings are checked (an int is accepted for a float, 0/1 for a bool, a scalar
    for a one-item sequence). Raises :class:`InvalidOptionError` naming ``where`` and the type.
    """
    if default is None:
        if isinstance(value, str):
            if value.strip().lower() in _NONE_WORDS:
                return None
            return _number_or_text(value)
        return value
    if isinstance(default, bool):
        return _to_bool(value, where)
    if isinstance(default, (tuple, list)):
        return _to_sequence(value, default, where)
    for kind in (int, float, str):
        if isinstance(default, kind):
            return _to_scalar(value, kind, where)
    return value


def _to_bool(value: Any, where: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        word = value.strip().lower()
        if word in _TRUE_WORDS:
            return True
        if word in _FALSE_WORDS:
            return False
    raise InvalidOptionError(f"{where} expects a bool (true/false/1/0/yes/no), got {value!r}")


def _to_scalar(value: Any, kind: type, where: str) -> Any:
    if kind is str:
        return value if isinstance(value, str) else str(value)
    if isinstance(value, bool):
        raise InvalidOptionError(f"{where} expects {_article(kind)}, got {value!r}")
    try:
        if kind is int and isinstance(value, float):
            if not value.is_integer():
                raise ValueError
            return int(value)
        return kind(value.strip() if isinstance(value, str) else value)
    except (TypeError, ValueError):
        raise InvalidOptionError(f"{where} expects {_article(kind)}, got {value!r}") from None


def _to_sequence(value: Any, default: tuple | list, where: str) -> tuple | list:
    if isinstance(value, str):
        items = [item.strip() for item in value.split(",") if item.strip()]
    elif isinstance(value, (tuple, list)):
        items = list(value)
    else:
        items = [value]
    if default:
        template = default[0]
        items = [coerce_option(item, template, where=where) for item in items]
    else:
        items = [_number_or_text(item) if isinstance(item, str) else item for item in items]
    return type(default)(items)


def _number_or_text(text: str) -> int | float | str:
    for kind in (int, float):
        try:
            return kind(text.strip())
        except ValueError:
            pass
    return text


def _article(kind: type) -> str:
    return {int: "an int", float: "a float"}.get(kind, kind.__name__)


# ---------------------------------------------------------------------------------------- listing


def plugin_listing(pm: pluggy.PluginManager) -> list[dict[str, Any]]:
    """One dict per registered plugin, sorted by name, for ``dann plugins`` (and ``--json``).

    Keys: ``name``; ``distribution`` and ``version`` (None for a plugin registered directly rather
    than through an entry point); ``hooks`` (sorted hook names it implements); ``provides``
    (``{"datasets": [...], "backbones": [...], "discriminators": [...], "commands": [...]}``, only
    the non-empty kinds; commands are found by calling ``register_commands`` on a scratch group).
    """
    sources: dict[str, PluginSource] = getattr(pm, "sources", {})
    rows = []
    for name, plugin in pm.list_name_plugin():
        if plugin is None:  # blocked
            continue
        impls = pm.get_hookcallers(plugin) or []
        hooks = sorted(caller.name for caller in impls)
        source = sources.get(name)
        rows.append(
            {
                "name": name,
                "distribution": source.distribution if source else None,
                "version": source.version if source else None,
                "hooks": hooks,
                "provides": _provides(pm, name, hooks),
            }
        )
    return sorted(rows, key=lambda row: row["name"])


def _provides(pm: pluggy.PluginManager, plugin_name: str, hooks: list[str]) -> dict[str, list[str]]:
    provides: dict[str, list[str]] = {}
    for kind, hook_name in _HOOK_OF_KIND.items():
        if hook_name in hooks:
            provides[f"{kind}s"] = sorted(
                spec.name
                for _, returned in _call_each(pm, hook_name, only=plugin_name)
                for spec in returned or []
                if isinstance(spec, ComponentSpec)
            )
    if "register_commands" in hooks:
        import click

        scratch = click.Group("scratch")
        for _ in _call_each(pm, "register_commands", only=plugin_name, cli=scratch):
            pass
        provides["commands"] = sorted(scratch.commands)
    return provides


def format_listing(listing: list[dict[str, Any]], components: dict[str, list[dict]] | None = None) -> str:
    """Human-readable text of :func:`plugin_listing` (and, when given, of ``describe()["components"]``).

    Pure: it only formats its arguments. ``dann plugins`` prints ``format_listing(plugin_listing(pm))``;
    ``dann plugins --verbose`` may pass the components to also list each one's options.
    """
    lines = []
    for row in listing:
        origin = f"{row['distribution']} {row['version']}" if row["distribution"] else "registered directly"
        lines.append(f"{row['name']} ({origin})")
        lines.append(f"  hooks: {', '.join(row['hooks']) or '(none)'}")
        for kind, names in row["provides"].items():
            lines.append(f"  {kind}: {', '.join(names) or '(none)'}")
    if components:
        for kind, entries in components.items():
            lines.append("")
            lines.append(f"{kind}:")
            for entry in entries:
                lines.append(f"  {entry['name']} - {entry['description']}")
                for key, default in entry["options"].items():
                    lines.append(f"      {key} = {_show_default(default)}")
    return "\n".join(lines)


def _show_default(default: Any) -> str:
    if isinstance(default, (list, tuple)):
        return ",".join(str(item) for item in default) if default else '""'
    return repr(default) if isinstance(default, str) else str(default)
