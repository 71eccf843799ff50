"""``dann new plugin NAME [--dir DIR]``: start a plugin package (see :mod:`dann_core.scaffold`)."""
from __future__ import annotations

import click

from . import common


@click.group("new")
def new_group() -> None:
    """Create a starting point: dann new plugin NAME."""


@new_group.command("plugin")
@click.argument("name")
@click.option("--dir", "directory", default=".", show_default=True, type=click.Path(file_okay=False), help="Folder to create the package in.")
def new_plugin(name: str, directory: str) -> None:
    """Write a ready plugin package NAME (pyproject, entry point, one component of each kind, tests, README)."""
    from ..scaffold import write_plugin

    with common.user_errors():
        root = write_plugin(name, directory)
    click.echo(f"wrote {root}")
    click.echo(f"next: pip install --no-build-isolation --no-deps -e {root} && pytest -q {root}")
