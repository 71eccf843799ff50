"""The options of ``dann run``, generated from :class:`dann_core.config.RunConfig` (one per setting, plus the
``--lambda``/``--gamma`` shortcuts), the command class whose help lists the installed components, and which
settings the command line gave explicitly (the last layer of the config's precedence)."""
from __future__ import annotations

import dataclasses

import click
from click.core import ParameterSource

from ..config import FIELDS, SHORTCUTS
from . import common

PRECEDENCE = (
    "Settings resolve as: defaults < the chosen components' recommendations < --config FILE < --set KEY=VALUE "
    "< explicit options."
)


def _option_for(key: str, field: dataclasses.Field) -> click.Option:
    """The ``dann run`` option of one RunConfig field (default None: absent means "not given")."""
    flag = "--" + key.replace("_", "-")
    help_text = field.metadata["help"]
    default = field.default
    if default is not None and default is not dataclasses.MISSING:
        help_text += f" [default: {default}]"
    if isinstance(default, bool):
        return click.Option([f"{flag}/--no-{flag[2:]}", field.name], default=None, help=help_text)
    if field.metadata.get("choices"):
        return click.Option([flag, field.name], type=click.Choice(field.metadata["choices"]), help=help_text)
    kind = (_Integer() if isinstance(default, int) else _Float()) if isinstance(default, (int, float)) else str
    return click.Option([flag, field.name], type=kind, help=help_text)


class _ShortValues:
    """A number type whose error shows a huge value cut short (Click would print all of it)."""

    def convert(self, value, param, ctx):
        if isinstance(value, str) and len(value) > 100:
            from ..options import shown

            self.fail(f"{shown(value)} ({len(value)} characters) is not a valid {self.name}", param, ctx)
        return super().convert(value, param, ctx)


class _Integer(_ShortValues, click.types.IntParamType):
    pass


class _Float(_ShortValues, click.types.FloatParamType):
    pass


def config_options() -> list[click.Option]:
    options = [_option_for(key, field) for key, field in FIELDS.items() if not key.endswith("_options")]
    options.append(click.Option(
        ["--lambda", "lambda_"], metavar="schedule|NUMBER",
        help=f"shortcut for --set {SHORTCUTS['lambda']}=...: GRL factor λ of dann/cdan, 'schedule' (the paper's ramp) or a number",
    ))
    options.append(click.Option(["--gamma", "gamma"], type=float, help=f"shortcut for --set {SHORTCUTS['gamma']}=...: γ of the λ schedule"))
    return options


SHORTCUT_PARAMS = {"lambda": "lambda_", "gamma": "gamma"}


class RunCommand(click.Command):
    """``dann run``; its help ends with the names of the installed components (found only for --help)."""

    def format_epilog(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        super().format_epilog(ctx, formatter)
        with formatter.section("Installed components (dann plugins --verbose for their options)"):
            from ..plugins import KINDS

            try:
                registry = common.registry(ctx)
                rows = [(f"{kind}s", ", ".join(registry.of_kind(kind)) or "(none)") for kind in KINDS]
            except click.ClickException as exc:
                rows = [("error", exc.format_message())]
            formatter.write_dl(rows)


def explicit_flags(ctx: click.Context) -> dict:
    flags = {}
    for key, field in FIELDS.items():
        if key.endswith("_options"):
            continue
        if ctx.get_parameter_source(field.name) is ParameterSource.COMMANDLINE:
            flags[key] = ctx.params[field.name]
    for key, param in SHORTCUT_PARAMS.items():
        if ctx.get_parameter_source(param) is ParameterSource.COMMANDLINE:
            flags[key] = ctx.params[param]
    return flags
