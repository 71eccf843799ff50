"""docs/cli.md documents only options the commands have (issue 29: it documented a `--holdout` that
did not exist), and every option of `dann run` is in it."""
from __future__ import annotations

import re

import click

from dann_core.cli import build_cli
from tests.paths import ROOT

CLI_MD = (ROOT / "docs" / "cli.md").read_text()


def _options(command: click.Command, ctx: click.Context) -> set[str]:
    names = {opt for param in command.params if isinstance(param, click.Option) for opt in param.opts + param.secondary_opts}
    if isinstance(command, click.Group):
        for name in command.list_commands(ctx):
            sub = command.get_command(ctx, name)
            names |= _options(sub, click.Context(sub, parent=ctx, info_name=name))
    return names


def _every_option() -> set[str]:
    cli = build_cli()
    ctx = click.Context(cli, info_name="dann")
    return _options(cli, ctx) | {"--help", "--version"}


def test_every_option_the_manual_names_exists():
    documented = set(re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", CLI_MD))
    assert sorted(documented - _every_option()) == []


def test_every_option_of_dann_run_is_in_the_manual():
    cli = build_cli()
    run = cli.get_command(click.Context(cli, info_name="dann"), "run")
    own = {opt for param in run.params if isinstance(param, click.Option) for opt in param.opts if opt.startswith("--")}
    missing = sorted(opt for opt in own if opt not in CLI_MD and opt != "--help")
    assert missing == []
