"""The ``dann`` command line: thin Click commands; torch and the plugins load only inside commands.

Commands: ``run`` (train), ``eval`` (a group; ``dann eval RUN_DIR`` re-evaluates a checkpoint),
``plugins`` (what is installed), ``info`` (versions and kernel backends) and ``new plugin`` (a
plugin package to start from); the evaluation plugin
adds ``eval pad``, ``sweep``, ``plot`` and ``table``. Plugins add commands with the
``register_commands(cli)`` hook; ``--no-plugins`` (or ``DANN_DISABLE_PLUGIN_AUTOLOAD=1``) keeps
third-party plugins out of every command. User errors exit with code 2 and one line; a diverged
run exits 1.

For plugin commands: :func:`registry` (this command line's registry, to pass as ``registry=``)
and :func:`user_errors` (the one exception → one-line error mapping).
"""
from __future__ import annotations

import warnings

import click

from .. import __version__
from .common import UserError, registry, report_broken, user_errors


class PluginGroup(click.Group):
    """The root group: plugin commands are added the first time a command is looked up or listed."""

    def _add_plugin_commands(self, ctx: click.Context) -> None:
        root = ctx.find_root()
        if root.meta.get("dann.commands_loaded") or not getattr(self, "load_plugins", True):
            return
        root.meta["dann.commands_loaded"] = True
        from ..plugins import PluginWarning
        from ..plugins.listing import call_each
        from .common import plugin_manager

        pm = plugin_manager(ctx)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", PluginWarning)
            for _ in call_each(pm, "register_commands", cli=self):  # a plugin whose hook raises is skipped
                pass

    def get_command(self, ctx: click.Context, cmd_name: str):
        self._add_plugin_commands(ctx)  # also for built-in names: plugins add subcommands to them (eval pad)
        command = super().get_command(ctx, cmd_name)
        if getattr(command, "lists_broken_plugins", False):
            ctx.find_root().meta["dann.lists_broken"] = True
        report_broken(ctx)
        return command

    def list_commands(self, ctx: click.Context) -> list[str]:
        self._add_plugin_commands(ctx)
        report_broken(ctx)
        return super().list_commands(ctx)


def _no_plugins(ctx: click.Context, param: click.Parameter, value: bool) -> bool:
    # eager, so that "dann --no-plugins --help" lists commands without importing third-party plugins
    if value:
        ctx.find_root().meta["dann.no_plugins"] = True
    return value


def build_cli(load_plugins: bool = True) -> click.Group:
    """A fresh ``dann`` group (plugin commands are added to it lazily, once per invocation).

    ``load_plugins=False`` gives the built-in commands only (``dann plugins`` uses such a scratch
    group to see what each plugin adds).
    """
    from .eval import make_eval_group
    from .info import info_command
    from .new import new_group
    from .plugins import plugins_command
    from .run import run_command

    @click.group("dann", cls=PluginGroup, context_settings={"help_option_names": ["-h", "--help"]})
    @click.option("--no-plugins", is_flag=True, is_eager=True, callback=_no_plugins, help="Load only dann's built-in plugins (no third-party ones).")
    @click.version_option(__version__, prog_name="dann", message="%(prog)s %(version)s")
    def cli(no_plugins: bool) -> None:
        """Domain-adversarial training (DANN) for PyTorch. Start with: dann run"""

    cli.load_plugins = load_plugins
    cli.scratch_group = lambda: build_cli(load_plugins=False)  # what `dann plugins` adds each plugin's commands to
    for command in (run_command, make_eval_group(), plugins_command, info_command, new_group):
        cli.add_command(command)
    return cli


def main() -> None:
    """Entry point of the ``dann`` console script (and of ``python -m dann_core``)."""
    build_cli()(prog_name="dann")


__all__ = ["UserError", "build_cli", "main", "registry", "user_errors"]
