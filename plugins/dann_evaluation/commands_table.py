"""``dann table``: methods over seeds, mean ± std target accuracy, and the result chosen without target labels.

A thin Click wrapper over :mod:`dann_evaluation.tables` and :mod:`dann_evaluation.across`.
"""
from __future__ import annotations

import json

import click

from dann_core.cli import import_torch, registry, user_errors

from .across import DEFAULT_CHOICE
from .command_options import (
    base_config, config_option, echo_err, finish, fmt, json_option, launcher_option,
    no_plugins_to_workers, retry_option, set_option, stop_signals, workers_option,
)


@click.command("table")
@config_option
@set_option
@click.option("--dataset", help="Dataset (default: the base config's).")
@click.option("--backbone", help="Backbone (default: the base config's).")
@click.option("--discriminator", help="Discriminator (default: the base config's).")
@click.option("--steps", type=int, help="Steps of every run.")
@click.option("--seeds", default="0,1,2", show_default=True, help="Seeds: 0,1,2 or 0-4.")
@click.option("--methods", default="source-only,dann,target-oracle", show_default=True,
              help="Comma-separated methods (rows); options in brackets: cdan[entropy=true].")
@click.option("--out", type=click.Path(file_okay=False), default="runs/table", show_default=True,
              help="Runs go to OUT/jobs/<id>/run (dann sweep status OUT lists them); the table to OUT/<dataset>-table.md/.csv.")
@click.option("--choose", default=DEFAULT_CHOICE, show_default=True, metavar="SELECTOR",
              help="Selector that chooses, per seed and without target labels, a setting per method and a method among all "
                   "(source-only always a candidate); any selector that compares runs, set-level ones (ensv) included; "
                   "none: no choice, and no source-only row added.")
@launcher_option
@workers_option
@retry_option
@json_option
def table_command(config_file, sets, dataset, backbone, discriminator, steps, seeds, methods, out, choose, launcher, workers, retry_failed,
                  as_json) -> None:
    """Train each method over the seeds; print and write the mean ± std target accuracy table, and the
    result chosen without target labels (--choose) with its estimated gain over source-only.

    The shape of the paper's Table 2. Each run is a job: the same command again reuses finished
    runs, resumes interrupted ones and (with --retry-failed) retries failed ones.
    """
    import_torch()
    with stop_signals():
        _table(config_file, sets, dataset, backbone, discriminator, steps, seeds, methods, out, launcher, workers, retry_failed, as_json, choose)


def _table(config_file, sets, dataset, backbone, discriminator, steps, seeds, methods, out, launcher, workers, retry_failed, as_json,
           choose=DEFAULT_CHOICE) -> None:
    from .across import SOURCE_ONLY, across_selector
    from .tables import JobsIncomplete, parse_methods, parse_seeds, run_table

    incomplete = None
    with user_errors():
        base = base_config(config_file, sets, {"dataset": dataset, "backbone": backbone, "discriminator": discriminator, "steps": steps})
        seed_list, method_list = parse_seeds(seeds), parse_methods(methods, registry(), base)
        if choose != "none":
            across_selector(choose, registry())  # a bad --choose fails before anything is trained
        if choose != "none" and SOURCE_ONLY not in method_list:  # source-only is always a candidate of the choice
            method_list = [SOURCE_ONLY, *method_list]
            echo_err("source-only added to --methods: it is always a candidate of the label-free choice")
        no_plugins_to_workers()
        try:
            rows, paths = run_table(base, seed_list, method_list, out=out, registry=registry(), launcher=launcher, workers=workers, retry_failed=retry_failed)
        except JobsIncomplete as exc:
            incomplete, (rows, paths) = exc, exc.result
    with user_errors():
        choice = None if choose == "none" else _table_choice(out, base, seed_list, method_list, choose)
    _print_table(rows, paths, as_json, choice)
    if incomplete is not None:
        finish(str(incomplete), incomplete.interrupted)


def _table_choice(out, base, seeds, methods, choose) -> dict:
    """The label-free choice among the table's finished runs, written to OUT/<dataset>-choice.json."""
    from pathlib import Path

    from dann_core.files import write_json

    from .across import choose_in_table, table_entries

    choice = choose_in_table(table_entries(out, seeds, methods), choose, registry())
    path = Path(out) / f"{base.dataset}-choice.json"
    write_json(choice, path)
    choice["path"] = str(path)
    return choice


def _print_table(rows, paths, as_json: bool, choice: dict | None = None) -> None:
    from .tables import format_markdown

    if as_json:
        click.echo(json.dumps(rows if choice is None else {"rows": rows, "choice": choice}, indent=2, default=str))
        return
    click.echo(format_markdown(rows), nl=False)
    if choice is not None:
        for seed in choice["seeds"]:
            settings = "; ".join(f"{m} -> {label}" for m, label in seed["settings"].items())
            picked = seed["chosen"]
            what = "nothing" if picked is None else (f"{picked['label']} step {picked['step']}, estimated {fmt(picked['target_acc_estimate'], '.4f')}, "
                                                      f"target acc {fmt(picked['target_test_acc_reported_only'], '.4f')} (reported only)")
            click.echo(f"seed {seed['seed']}: chosen {what}; {seed['adaptation']}" + (f" (settings: {settings})" if settings else ""))
        click.echo(choice["summary"])
    click.echo(f"written: {paths[0]}, {paths[1]}" + (f", {choice['path']}" if choice else ""))
