"""Pieces every ``dann`` command shares, built-in or from a plugin.

- :func:`plugin_manager` / :func:`registry`: the one plugin manager and registry of this command
  line, built lazily and honouring ``dann --no-plugins``; pass ``registry(ctx)`` down as ``registry=``.
- :func:`user_errors`: the one mapping from exceptions a user causes to a one-line ``Error: ...``
  with exit status 2. Plugin commands use it too (``from dann_core.cli import user_errors``).
"""
from __future__ import annotations

import contextlib
import sys
import warnings
from typing import Iterator

import click


class UserError(click.ClickException):
    """A one-line error the user can fix (bad name, option, file or run directory); exit status 2."""

    exit_code = 2


def autoload(ctx: click.Context) -> bool | None:
    """False under ``dann --no-plugins``, else None (the plugin manager's own default)."""
    root = ctx.find_root()
    return False if root.params.get("no_plugins") or root.meta.get("dann.no_plugins") else None


def import_torch() -> None:
    """Import torch with Ctrl-C held back until it has loaded (:func:`dann_core.stops.blocked`).

    torch's C++ start-up runs Python code. A KeyboardInterrupt raised in there either escapes as a C++
    exception (the process aborts: "terminate called ... KeyboardInterrupt") or leaves CPython's
    unhandled-interrupt flag set, so that the process dies of SIGINT (status -2, nothing printed) after
    the command has exited 130. Held, the signal lands after the import, in Python code, and the
    command exits 130 as at any other moment; the wait is the rest of the import (about a second).
    Commands that need torch call it first (``dann run``, ``dann eval``, ``dann sweep``, ``dann
    table``, ``dann plot``; a plugin's command too); help and the plugin listing never import torch."""
    if "torch" in sys.modules:
        return
    from .. import stops

    with stops.blocked():
        import torch  # noqa: F401


def plugin_manager(ctx: click.Context):
    """The plugin manager for this invocation (built once per command line, lazily).

    Broken plugins are skipped; :func:`report_broken` tells the user about them once.
    """
    root = ctx.find_root()
    if "dann.pm" not in root.meta:
        from ..plugins import PluginLoadError, PluginWarning, get_plugin_manager

        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", PluginWarning)  # reported as one line each by report_broken
                root.meta["dann.pm"] = get_plugin_manager(autoload=autoload(ctx))
        except PluginLoadError as exc:
            raise UserError(first_line(exc)) from None
    return root.meta["dann.pm"]


def registry(ctx: click.Context | None = None):
    """The component registry of this invocation's plugins (``ctx`` defaults to the current context)."""
    ctx = ctx or click.get_current_context()
    root = ctx.find_root()
    if "dann.registry" not in root.meta:
        from ..plugins import PluginLoadError, PluginWarning, get_registry

        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", PluginWarning)
                root.meta["dann.registry"] = get_registry(plugin_manager(ctx))
        except (PluginLoadError, ValueError) as exc:
            raise UserError(first_line(exc)) from None
        report_broken(ctx)
    return root.meta["dann.registry"]


def report_broken(ctx: click.Context) -> None:
    """Warn once per broken plugin on stderr (one line each), unless the command lists them itself,
    and once per plugin that implements a hook under its old name (one line each, always)."""
    root = ctx.find_root()
    pm = root.meta.get("dann.pm")
    if pm is None:
        return
    reported = root.meta.setdefault("dann.reported_broken", set())
    for name, broken in getattr(pm, "broken", {}).items():
        if name not in reported and not root.meta.get("dann.lists_broken"):
            reported.add(name)
            click.echo(f"warning: {broken.describe()}", err=True)
    for name, message in getattr(pm, "deprecated", {}).items():
        if ("deprecated", name) not in reported and name not in getattr(pm, "broken", {}):
            reported.add(("deprecated", name))
            click.echo(f"warning: {message}", err=True)


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
    except (ConfigError, PluginLoadError, ValueError) as exc:
        raise UserError(first_line(exc)) from None
    except OSError as exc:
        raise UserError(describe_os_error(exc)) from None
    except EOFError as exc:  # click would print a bare "Aborted!"
        raise UserError(f"unexpected end of file: {first_line(exc)}") from None


def describe_os_error(exc: OSError) -> str:
    """One line naming the file and the system's reason (``cannot write x/last.pt: No space left on device``)."""
    if exc.filename and exc.strerror:
        return f"{exc.filename}: {exc.strerror}"
    return first_line(exc)
