"""``dann plugins``: what is installed, from which distribution, and what each plugin provides."""
from __future__ import annotations

import json

import click

from . import common


@click.command("plugins")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable listing.")
@click.option("--verbose", is_flag=True, help="Also list every component with its options, and the regularisers of method.plus.")
@click.pass_context
def plugins_command(ctx: click.Context, as_json: bool, verbose: bool) -> None:
    """List the loaded plugins, their versions, hooks and what they provide, and the broken ones with their error."""
    from ..plugins import format_listing, plugin_listing

    registry = common.registry(ctx)  # calls every hook once, so a plugin whose hook fails is listed as broken
    # the plugins layer cannot import the CLI: the root group says how to build a scratch one (built-ins only)
    scratch = getattr(ctx.find_root().command, "scratch_group", None)
    listing = plugin_listing(common.plugin_manager(ctx), command_group=scratch)
    components = registry.describe()["components"] if verbose else None
    if as_json:
        click.echo(json.dumps({"plugins": listing, **({"components": components} if verbose else {})}, indent=2, default=str))
    else:
        if components:  # a regulariser is listed once, with the methods whose plus takes it (their own options leave it out)
            components["regularizers"] = [
                {**entry, "description": f"{entry['description']}; method.plus={entry['name']} on {', '.join(entry['methods'])}"}
                for entry in components["regularizers"]
            ]
        click.echo(format_listing(listing, components))


plugins_command.lists_broken_plugins = True  # it lists them itself: no warning lines before the listing
