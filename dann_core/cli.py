"""The ``dann`` command line: thin Click commands; torch and the plugins load only inside commands.

Commands: ``run`` (train), ``eval`` (a group; ``dann eval RUN_DIR`` re-evaluates a checkpoint),
``plugins`` (what is installed) and ``info`` (versions and kernel backends). Plugins add commands
with the ``register_commands(cli)`` hook; ``--no-plugins`` (or ``DANN_DISABLE_PLUGIN_AUTOLOAD=1``)
keeps third-party plugins out. User errors exit with code 2 and one line; a diverged run exits 1.
"""
from __future__ import annotations

import json
import platform

import click

from . import __version__, cli_common
from .cli_eval import eval_group
from .cli_run import run_command


class PluginGroup(click.Group):
    """The root group: plugin commands are added the first time a command is looked up or listed."""

    def _add_plugin_commands(self, ctx: click.Context) -> None:
        root = ctx.find_root()
        if root.meta.get("dann.commands_loaded"):
            return
        root.meta["dann.commands_loaded"] = True
        cli_common.plugin_manager(ctx).hook.register_commands(cli=self)

    def get_command(self, ctx: click.Context, cmd_name: str):
        self._add_plugin_commands(ctx)  # also for built-in names: plugins add subcommands to them (eval pad)
        return super().get_command(ctx, cmd_name)

    def list_commands(self, ctx: click.Context) -> list[str]:
        self._add_plugin_commands(ctx)
        return super().list_commands(ctx)


@click.command("plugins")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable listing.")
@click.option("--verbose", is_flag=True, help="Also list every component with its options.")
@click.pass_context
def plugins_command(ctx: click.Context, as_json: bool, verbose: bool) -> None:
    """List the loaded plugins, their versions, hooks and what they provide."""
    from .plugins import format_listing, plugin_listing

    pm = cli_common.plugin_manager(ctx)
    listing = plugin_listing(pm)
    components = cli_common.registry(ctx).describe()["components"] if verbose else None
    if as_json:
        click.echo(json.dumps({"plugins": listing, **({"components": components} if verbose else {})}, indent=2, default=str))
    else:
        click.echo(format_listing(listing, components))


@click.command("info")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def info_command(as_json: bool) -> None:
    """Versions of Python, torch and dann; the kernel backend per device; the extension's build facts."""
    import warnings

    import torch

    from . import ops

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the missing-extension warning: the backend line says it
        devices = ["cpu"] + [f"cuda:{i}" for i in range(torch.cuda.device_count())]
        backends = {device: _backend(ops, device) for device in devices}
    info = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "dann": __version__,
        "cuda_available": torch.cuda.is_available(),
        "cuda_version": torch.version.cuda,
        "kernel_mode": ops.dispatch.get_mode(),
        "backends": backends,
        "build_info": ops.build_info(),
    }
    if as_json:
        click.echo(json.dumps(info, indent=2, default=str))
        return
    for key in ("python", "torch", "dann", "cuda_available", "cuda_version", "kernel_mode"):
        click.echo(f"{key:<15} {info[key]}")
    for device, name in backends.items():
        click.echo(f"{'backend ' + device:<15} {name}")
    click.echo("build_info      " + json.dumps(info["build_info"], default=str))


def _backend(ops, device: str) -> str:
    try:
        return ops.backend(device)
    except RuntimeError as exc:
        return f"unavailable ({cli_common.first_line(exc)})"


def build_cli() -> click.Group:
    """A fresh ``dann`` group (plugin commands are added to it lazily, once per invocation)."""

    @click.group("dann", cls=PluginGroup, context_settings={"help_option_names": ["-h", "--help"]})
    @click.option("--no-plugins", is_flag=True, help="Load only dann's built-in plugins (no third-party ones).")
    @click.version_option(__version__, prog_name="dann", message="%(prog)s %(version)s")
    def cli(no_plugins: bool) -> None:
        """Domain-adversarial training (DANN) for PyTorch. Start with: dann run"""

    for command in (run_command, _fresh_eval_group(), plugins_command, info_command):
        cli.add_command(command)
    return cli


def _fresh_eval_group() -> click.Group:
    """A copy of the eval group, so plugin subcommands added to one CLI do not leak into the next."""
    group = type(eval_group)(
        name=eval_group.name,
        commands=dict(eval_group.commands),
        default_command=eval_group.default_command,
        help=eval_group.help,
        no_args_is_help=True,
        callback=eval_group.callback,
    )
    return group


def main() -> None:
    """Entry point of the ``dann`` console script."""
    build_cli()(prog_name="dann")


if __name__ == "__main__":
    main()
