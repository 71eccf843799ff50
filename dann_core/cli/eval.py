"""``dann eval``: a group whose default subcommand re-evaluates a checkpoint (``dann eval RUN_DIR``).

Plugins add evaluations as subcommands through ``register_commands``:
``cli.commands["eval"].add_command(my_command)`` makes ``dann eval my-command RUN_DIR`` work, while
``dann eval RUN_DIR`` keeps meaning ``dann eval checkpoint RUN_DIR``.
"""
from __future__ import annotations

import json

import click

from . import common


class DefaultGroup(click.Group):
    """A group that runs ``default_command`` when the first argument names no subcommand."""

    def __init__(self, *args, default_command: str, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.default_command = default_command

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ctx.help_option_names:
            args = [self.default_command, *args]
        return super().parse_args(ctx, args)

    def format_usage(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        formatter.write_usage(ctx.command_path, f"[{self.default_command}] RUN_DIR [OPTIONS] | COMMAND [ARGS]...")


@click.command("checkpoint")
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--checkpoint", "which", type=click.Choice(["best", "last"]), default="best", show_default=True)
@click.option("--device", default="cpu", show_default=True, help="torch device to evaluate on.")
@click.option("--json", "as_json", is_flag=True, help="Print the accuracies as JSON.")
@click.pass_context
def checkpoint_command(ctx, run_dir, which, device, as_json) -> None:
    """Accuracy of a run's checkpoint on source train, source val and target test."""
    common.import_torch()
    from ..metrics import accuracy
    from ..train import load_run
    from ..train import resolve_device

    with common.user_errors():
        device = resolve_device(device)
        run = load_run(run_dir, which, device=device, registry=common.registry(ctx))
    data = run.data

    def predict(x):
        return run.model.predict(x)

    result = {
        "run_dir": str(run_dir),
        "checkpoint": which,
        "step": run.step,
        "source_train_acc": accuracy(predict, data.source_train, device),
        "source_val_acc": accuracy(predict, data.source_val, device),
        "target_test_acc": accuracy(predict, data.target_test, device),
    }
    if as_json:
        click.echo(json.dumps(result, indent=2))
        return
    click.echo(f"{run_dir} {which}.pt (step {run.step})")
    for key in ("source_train_acc", "source_val_acc", "target_test_acc"):
        value = result[key]
        click.echo(f"  {key:<17} {'n/a' if value is None else f'{value:.4f}'}")


def make_eval_group() -> click.Group:
    """A fresh ``eval`` group, so plugin subcommands added to one CLI do not leak into the next."""

    @click.group("eval", cls=DefaultGroup, default_command="checkpoint", no_args_is_help=True)
    def eval_group() -> None:
        """Evaluate a run. "dann eval RUN_DIR" is short for "dann eval checkpoint RUN_DIR"."""

    eval_group.add_command(checkpoint_command)
    return eval_group
