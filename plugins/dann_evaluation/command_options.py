"""What the evaluation commands share: the Click options of the base config, of launching jobs and of
``--json``, and the small helpers around them (stderr lines, the base config, stop signals, exit status).

Nothing here imports torch: ``dann --help`` and ``dann plugins`` import this module.
"""
from __future__ import annotations

import contextlib

import click

from dann_core.cli import registry


def echo_err(message: str) -> None:
    click.echo(message, err=True)


def base_config(config_file, sets, flags):
    from dann_core import config as config_io

    return config_io.resolve(config_file, sets, {k: v for k, v in flags.items() if v is not None}, registry=registry())


config_option = click.option("--config", "config_file", type=click.Path(exists=True, dir_okay=False),
                             help="TOML, YAML or JSON file of run settings (the base config).")
set_option = click.option("--set", "sets", multiple=True, metavar="KEY=VALUE", help="Override one base setting (as in dann run); repeatable.")
json_option = click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")

launcher_option = click.option("--launcher", default="local", show_default=True, metavar="NAME[OPTION=VALUE,...]",
                               help="Where the jobs run: local (worker processes), submitit (Slurm), ray, or a plugin's.")
workers_option = click.option("--workers", type=click.IntRange(1, 4096), default=1, show_default=True,
                              help="Jobs running at once (local: processes, each with cores // N threads or one GPU).")
retry_option = click.option("--retry-failed", is_flag=True, help="Run failed jobs again (finished ones are always kept).")


def no_plugins_to_workers() -> None:
    """Jobs run in fresh processes: --no-plugins reaches them through the environment."""
    import os

    from dann_core.plugins.manager import AUTOLOAD_ENV

    if click.get_current_context().find_root().meta.get("dann.no_plugins"):
        os.environ[AUTOLOAD_ENV] = "1"


@contextlib.contextmanager
def stop_signals():
    """Ctrl-C, SIGTERM and SIGHUP stop a sweep or table the same way (its jobs end resumable); one
    that lands outside the launch (writing the jobs, collecting) is one line too, exit status 130."""
    from dann_core import stops

    try:
        with stops.handled():
            yield
    except KeyboardInterrupt:
        echo_err("interrupted; finished jobs are kept: the same command continues the rest")
        raise SystemExit(130) from None


def finish(message: str | None, interrupted: bool) -> None:
    """The one closing line of a sweep or table that did not finish; exit 130 (Ctrl-C) or 1."""
    if message is None:
        return
    echo_err(message)
    raise SystemExit(130 if interrupted else 1)


def fmt(value, spec: str) -> str:
    return "n/a" if value is None else format(value, spec)
