"""``dann plugins``: what is installed, from which distribution, and what each plugin provides."""
from __future__ import annotations

import json

import click

from . import common


@click.command("plugins")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable listing.")
@click.option("--verbose", is_flag=True, help="Also list every component with its options.")
@click.pass_context
def plugins_command(ctx: click.Context, as_json: bool, verbose: bool) -> None:
    """List the loaded plugins, their versions, hooks and what they provide."""
    from ..plugins import format_listing, plugin_listing

    pm = common.plugin_manager(ctx)
    listing = plugin_listing(pm)
    components = common.registry(ctx).describe()["components"] if verbose else None
    if as_json:
        click.echo(json.dumps({"plugins": listing, **({"components": components} if verbose else {})}, indent=2, default=str))
    else:
        click.echo(format_listing(listing, components))
