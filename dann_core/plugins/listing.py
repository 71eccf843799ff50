"""``dann plugins``: one row per loaded plugin (distribution, version, hooks, what it provides)."""
from __future__ import annotations

from typing import Any, Callable

import pluggy

from ..specs import ComponentSpec
from .kinds import TABLE


def call_each(pm: pluggy.PluginManager, hook_name: str, only: str | None = None, **kwargs: Any):
    """(plugin name, result) for each implementation of ``hook_name`` (of plugin ``only`` if given).

    An implementation that raises (or calls sys.exit) marks its plugin broken and is skipped.
    """
    from .manager import describe_exception, mark_broken

    for impl in getattr(pm.hook, hook_name).get_hookimpls():
        if only is None or impl.plugin_name == only:
            try:
                result = impl.function(**{arg: kwargs[arg] for arg in impl.argnames})
            except (Exception, SystemExit) as exc:
                mark_broken(pm, impl.plugin_name, f"its {hook_name}() raised {describe_exception(exc)}")
                continue
            yield impl.plugin_name, result


def plugin_listing(pm: pluggy.PluginManager, command_group: Callable[[], Any] | None = None) -> list[dict[str, Any]]:
    """One dict per registered plugin, sorted by name, for ``dann plugins`` (and ``--json``).

    Keys: ``name``; ``distribution`` and ``version`` (None for a plugin registered directly rather
    than through an entry point); ``hooks`` (sorted hook names it implements); ``provides``
    (``{"datasets": [...], "backbones": [...], "discriminators": [...], "methods": [...],
    "commands": [...]}``, only the kinds it implements). ``command_group`` makes a scratch ``dann``
    group with the built-in commands only (the CLI passes ``lambda: build_cli(load_plugins=False)``):
    a plugin's commands are what its ``register_commands`` adds to it, subcommands as ``group sub``.
    Without it, commands are not listed (the plugins layer sits below the CLI and cannot build one).
    A broken plugin (``pm.broken``) has empty hooks and provides, and ``error``: its one-line error.
    """
    sources = getattr(pm, "sources", {})
    rows = []
    for name, plugin in pm.list_name_plugin():
        if plugin is None:  # blocked
            continue
        hooks = sorted(caller.name for caller in pm.get_hookcallers(plugin) or [])
        source = sources.get(name)
        rows.append(
            {
                "name": name,
                "distribution": source.distribution if source else None,
                "version": source.version if source else None,
                "hooks": hooks,
                "provides": _provides(pm, name, hooks, command_group),
            }
        )
    rows = [row for row in rows if row["name"] not in getattr(pm, "broken", {})]  # broke while listing
    for broken in getattr(pm, "broken", {}).values():
        rows.append({"name": broken.name, "distribution": broken.distribution, "version": broken.version, "hooks": [], "provides": {}, "error": broken.error})
    return sorted(rows, key=lambda row: row["name"])


def _provides(pm: pluggy.PluginManager, plugin_name: str, hooks: list[str], command_group) -> dict[str, list[str]]:
    provides: dict[str, list[str]] = {}
    for kind in TABLE:
        if kind.component and set(kind.hooks) & set(hooks):
            provides[kind.plural] = sorted(
                spec.name
                for hook in kind.hooks if hook in hooks
                for _, returned in call_each(pm, hook, only=plugin_name)
                for spec in returned or []
                if isinstance(spec, ComponentSpec)
            )
    if "register_commands" in hooks and command_group is not None:
        provides["commands"] = _commands_added_by(pm, plugin_name, command_group())
    return provides


def _commands_added_by(pm: pluggy.PluginManager, plugin_name: str, scratch) -> list[str]:
    """Every command the plugin adds to ``scratch``, subcommands included (``group sub``), also under built-in groups."""
    before = set(_command_paths(scratch))
    for _ in call_each(pm, "register_commands", only=plugin_name, cli=scratch):
        pass
    return sorted(set(_command_paths(scratch)) - before)


def _command_paths(group, prefix: str = ""):
    """``name`` and ``name sub ...`` of every command under ``group``."""
    for name, command in getattr(group, "commands", {}).items():
        yield f"{prefix}{name}"
        yield from _command_paths(command, f"{prefix}{name} ")


def format_listing(listing: list[dict[str, Any]], components: dict[str, list[dict]] | None = None) -> str:
    """Human-readable text of :func:`plugin_listing` (and, when given, of ``describe()["components"]``)."""
    lines = []
    for row in listing:
        origin = f"{row['distribution']} {row['version']}" if row["distribution"] else "registered directly"
        lines.append(f"{row['name']} ({origin})")
        if row.get("error"):
            lines.append(f"  BROKEN, skipped: {row['error']}")
            continue
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
                if entry.get("recommended"):
                    shown = ", ".join(f"{k}={_show_default(v)}" for k, v in entry["recommended"].items())
                    lines.append(f"      recommends: {shown}")
    return "\n".join(lines)


def _show_default(default: Any) -> str:
    if isinstance(default, (list, tuple)):
        return ",".join(str(item) for item in default) if default else '""'
    return repr(default) if isinstance(default, str) else str(default)
