"""The evaluation commands, a first-party plugin (entry point ``evaluation = "dann_evaluation"``).

- ``dann eval pad RUN_DIR``: proxy A-distance on raw inputs and on the run's learned features.
- ``dann eval select RUN_DIR``: every selector's choice among the run's checkpoints, with its regret.
- ``dann sweep``: a hyper-parameter grid (or an Optuna search) as resumable jobs, selected by a label-free selector
  (``sweep status``/``sweep collect``: the jobs' states, the table from their directories).
- ``dann plot RUN_DIR``: embeddings (PCA, t-SNE), decision/domain boundaries (2-D inputs), curves.
- ``dann table``: source-only / dann / target-oracle over seeds, mean ± std target accuracy.

The maths lives in this package (pad, plots, grid, sweep, search, tables, jobs, launch, report); the commands are thin Click wrappers
(commands_eval, commands_sweep, commands_plot, commands_table; their shared options in command_options), wired exactly as a
third-party command plugin would be. Heavy imports (torch, scikit-learn, matplotlib) happen inside
the commands; each builds from the command line's registry (so ``dann --no-plugins`` holds).
"""
from __future__ import annotations

import click

from dann_core import hookimpl

from .commands_eval import pad_command, select_command
from .commands_plot import plot_command
from .commands_sweep import sweep_command
from .commands_table import table_command

__all__ = ["pad_command", "plot_command", "register_commands", "select_command", "sweep_command", "table_command"]


@hookimpl
def register_commands(cli: click.Group) -> None:
    """``eval pad`` and ``eval select`` (under the ``eval`` group), ``sweep``, ``plot`` and ``table``."""
    eval_group = cli.commands.get("eval")
    if isinstance(eval_group, click.Group):
        eval_group.add_command(pad_command, "pad")
        eval_group.add_command(select_command, "select")
    elif eval_group is None:
        group = click.Group("eval", help="Evaluate a run.")
        group.add_command(pad_command, "pad")
        group.add_command(select_command, "select")
        cli.add_command(group)
    else:  # an ``eval`` command that takes no subcommands
        cli.add_command(pad_command, "eval-pad")
        cli.add_command(select_command, "eval-select")
    for command in (sweep_command, plot_command, table_command):
        cli.add_command(command)
