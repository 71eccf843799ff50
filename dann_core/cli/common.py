"""Pieces every ``dann`` command shares, built-in or from a plugin.

- :func:`plugin_manager` / :func:`registry`: the one plugin manager and registry of this command
  line, built lazily and honouring ``dann --no-plugins``; pass ``registry(ctx)`` down as ``registry=``.
- :func:`user_errors`: the one mapping from exceptions a user causes to a one-line ``Error: ...``
  with exit status 2. Plugin commands use it too (``from dann_core.cli import user_errors``).
"""
from __future__ import annotations

import contextlib
from typing import Iterator

import click


class UserError(click.ClickException):
    """A one-line error the user can fix (bad name, option, file or run directory); exit status 2."""

    exit_code = 2


def autoload(ctx: click.Context) -> bool | None:
    """False under ``dann --no-plugins``, else None (the plugin manager's own default)."""
    root = ctx.find_root()
    return False if root.params.get("no_plugins") else None


def plugin_manager(ctx: click.Context):
    """The plugin manager for this invocation (built once per command line, lazily)."""
    root = ctx.find_root()
    root.meta.setdefault("dann.autoload", autoload(ctx))
    if "dann.pm" not in root.meta:
        from ..plugins import PluginLoadError, get_plugin_manager

        try:
            root.meta["dann.pm"] = get_plugin_manager(autoload=root.meta["dann.autoload"])
        except PluginLoadError as exc:
            raise UserError(first_line(exc)) from None
    return root.meta["dann.pm"]


def registry(ctx: click.Context | None = None):
    """The component registry of this invocation's plugins (``ctx`` defaults to the current context)."""
    ctx = ctx or click.get_current_context()
    root = ctx.find_root()
    if "dann.registry" not in root.meta:
        from ..plugins import PluginLoadError, get_registry

        try:
            root.meta["dann.registry"] = get_registry(plugin_manager(ctx))
        except (PluginLoadError, ValueError) as exc:
            raise UserError(first_line(exc)) from None
    return root.meta["dann.registry"]


def first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


@contextlib.contextmanager
def user_errors() -> Iterator[None]:
    """Turn the errors a user causes (bad names, options, files, run directories) into one line, exit 2.

    Wrap the code that checks the user's input and builds components from it; errors from training
    itself keep their traceback, since they are bugs rather than usage errors.
    """
    from ..config import ConfigError
    from ..plugins import PluginLoadError

    try:
        yield
    except click.ClickException:
        raise
    except (ConfigError, PluginLoadError, ValueError, FileNotFoundError) as exc:
        raise UserError(first_line(exc)) from None
    except OSError as exc:
        raise UserError(f"{exc.filename}: {exc.strerror}" if exc.filename else first_line(exc)) from None
