"""The ``dann`` command line: thin Click commands; torch and the plugins load only inside commands.

Commands: ``run`` (train), ``eval`` (a group; ``dann eval RUN_DIR`` re-evaluates a checkpoint),
``plugins`` (what is installed), ``info`` (versions and kernel backends) and ``new plugin`` (a
plugin package to start from); the evaluation plugin
adds ``eval pad``, ``sweep``, ``plot`` and ``table``. Plugins add commands with the
``register_commands(cli)`` hook; ``--no-plugins`` (or ``DANN_DISABLE_PLUGIN_AUTOLOAD=1``) keeps
third-party plugins out of every command. User errors exit with code 2 and one line; a diverged
run exits 1; Ctrl-C exits 130 (a command that was writing something says what it kept in one line,
any other is silent: no "Aborted!").

The entry point sets the OpenMP wait policy before torch loads
(:func:`dann_core.machine.set_openmp_wait_policy`).

For plugin commands: :func:`registry` (this command line's registry, to pass as ``registry=``),
:func:`user_errors` (the one exception → one-line error mapping) and :func:`import_torch` (called
first by a command that loads torch: Ctrl-C during that import then ends it with 130, not an abort).
"""
from __future__ import annotations

import signal
import sys


def _exit_quietly(signum, frame):  # Ctrl-C while this module (the command line itself) loads
    raise SystemExit(130)  # INTERRUPTED, defined below


try:
    _previous_sigint = signal.signal(signal.SIGINT, _exit_quietly)
except (ValueError, TypeError):  # imported outside the main thread: nothing to stop
    _previous_sigint = None
try:
    import warnings

    import click

    from .. import __version__
    from ..machine import set_openmp_wait_policy
    from .common import UserError, import_torch, registry, report_broken, user_errors
finally:
    if _previous_sigint is not None:
        signal.signal(signal.SIGINT, _previous_sigint)


INTERRUPTED = 130
"""Exit status of a command stopped by Ctrl-C (128 + SIGINT, as a shell reports it)."""


class PluginGroup(click.Group):
    """The root group: plugin commands are added the first time a command is looked up or listed.

    Ctrl-C that no command handles itself (while torch or the plugins load, in a listing) ends the
    command with exit status 130 and no output, instead of Click's "Aborted!" and status 1.
    """

    def make_context(self, *args, **kwargs):
        try:
            return super().make_context(*args, **kwargs)
        except KeyboardInterrupt:
            raise click.exceptions.Exit(INTERRUPTED) from None

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            raise click.exceptions.Exit(INTERRUPTED) from None

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
    set_openmp_wait_policy()
    try:
        cli = build_cli()
    except KeyboardInterrupt:  # Ctrl-C while the commands' modules import
        sys.exit(INTERRUPTED)
    cli(prog_name="dann")


__all__ = ["UserError", "build_cli", "import_torch", "main", "registry", "user_errors"]
