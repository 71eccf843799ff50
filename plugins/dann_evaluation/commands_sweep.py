"""``dann sweep`` (a grid or an Optuna search as resumable jobs, selected without target labels) and its
``sweep status DIR`` / ``sweep collect DIR``.

Thin Click wrappers over :mod:`dann_evaluation.grid`, :mod:`dann_evaluation.sweep`, :mod:`dann_evaluation.search` and
:mod:`dann_evaluation.jobs`; the heavy imports happen inside the commands.
"""
from __future__ import annotations

import json

import click

from dann_core.cli import import_torch, registry, user_errors

from .grid import DEFAULT_SELECT
from .command_options import (
    base_config, config_option, echo_err, finish, json_option, launcher_option,
    no_plugins_to_workers, retry_option, set_option, stop_signals, workers_option,
)


@click.group("sweep", invoke_without_command=True, subcommand_metavar="[status DIR | collect DIR]")
@config_option
@set_option
@click.option("--grid", "grid_items", multiple=True, metavar="KEY=V1,V2,...",
              help="Values of one setting to sweep; repeatable. KEY=geomspace:START:STOP:NUM gives log-spaced values; "
                   "with --search, KEY=range:LOW:HIGH or KEY=logrange:LOW:HIGH is a range.")
@click.option("--grid-file", type=click.Path(exists=True, dir_okay=False), help="TOML/YAML/JSON mapping keys to lists of values (or a [grid] table).")
@click.option("--select", default=DEFAULT_SELECT, show_default=True, metavar="SELECTOR",
              help="A selector whose scores compare across runs: source-val (best worst case on the selection benchmark), "
                   "reverse-val (reverse validation), iw, atc, ensv, dev, entropy, snd, a plugin's; target test labels are never used.")
@click.option("--search", type=click.Choice(["optuna"]), help="Search the grid (values and ranges) instead of training every combination.")
@click.option("--trials", type=click.IntRange(1, 100000), default=20, show_default=True, help="--search: number of trials.")
@click.option("--search-seed", type=int, default=0, show_default=True, help="--search: seed of the sampler (TPE).")
@click.option("--out", type=click.Path(file_okay=False), help="The sweep directory (jobs/ and sweep.csv/.md/.json) [default: runs/sweep-<dataset>-<time>]; "
                                                              "the same command with the same --out continues a sweep.")
@launcher_option
@workers_option
@retry_option
@click.option("--dataset", help="Dataset of the base config.")
@click.option("--backbone", help="Backbone of the base config.")
@click.option("--discriminator", help="Discriminator of the base config.")
@click.option("--method", help="Method of the base config.")
@click.option("--steps", type=int, help="Steps of every run.")
@json_option
@click.pass_context
def sweep_command(ctx, config_file, sets, grid_items, grid_file, select, search, trials, search_seed, out, launcher, workers, retry_failed,
                  dataset, backbone, discriminator, method, steps, as_json) -> None:
    """Train a grid of configurations as resumable jobs and select one without target labels.

    Example: dann sweep --grid lambda=0,0.1,1,schedule --grid lr=0.01,0.05 --workers 2 --out runs/s1.
    Writes a table of every configuration with its score, and target test accuracy in a separate
    column marked reported only. Run the same command again to continue: finished jobs are kept,
    interrupted ones resumed. dann sweep status DIR shows the jobs; dann sweep collect DIR the table.
    """
    if ctx.invoked_subcommand is not None:
        return
    import_torch()
    with stop_signals():
        _sweep(config_file, sets, grid_items, grid_file, select, search, trials, search_seed, out, launcher, workers, retry_failed,
               dataset, backbone, discriminator, method, steps, as_json)


def _sweep(config_file, sets, grid_items, grid_file, select, search, trials, search_seed, out, launcher, workers, retry_failed,
           dataset, backbone, discriminator, method, steps, as_json) -> None:
    from datetime import datetime, timezone
    from pathlib import Path

    from .grid import parse_grid, validate_grid
    from .sweep import run_sweep
    from .tables import incomplete_message

    with user_errors():
        base = base_config(config_file, sets, {"dataset": dataset, "backbone": backbone, "discriminator": discriminator, "method": method, "steps": steps})
        grid = parse_grid(grid_items, grid_file)
        added = "method" in grid and "source-only" not in grid["method"] and not any(k.startswith("method.") for k in grid)
        if added:  # a choice among methods always has source-only among them
            grid["method"] = ["source-only", *grid["method"]]
        validate_grid(grid, base, registry(), select, search=bool(search))  # before anything is printed or written
        if added:
            echo_err("source-only added to the method grid: it is always a candidate of the choice")
        if out is None:
            out = Path("runs") / f"sweep-{base.dataset}-{datetime.now(timezone.utc).strftime('%Y%m%d-%H%M%S')}"
        no_plugins_to_workers()
        if search:
            from .search import run_search

            echo_err(f"searching {trials} trials of {base.dataset} with {search}, selecting by {select}; writing {out}")
            result = run_search(base, grid, out, select=select, trials=trials, seed=search_seed, registry=registry(),
                                launcher=launcher, workers=workers, retry_failed=retry_failed)
        else:
            echo_err(f"sweeping {base.dataset}, selecting by {select}; writing {out}")
            result = run_sweep(base, grid, out, select=select, registry=registry(), launcher=launcher, workers=workers, retry_failed=retry_failed)
    launched = result.pop("launch")
    _print_sweep(result, out, as_json)
    finish(incomplete_message(launched, out, "configurations"), launched.interrupted)


def _print_sweep(result, out, as_json: bool) -> None:
    from .sweep import ROW_FIELDS, format_markdown

    for message in result.get("skipped", ()):  # a job whose files are damaged, left out of the table
        echo_err(f"warning: skipped: {message}")
    if as_json:
        click.echo(json.dumps(result, indent=2))
        return
    click.echo(format_markdown(result), nl=False)
    best = result["selected"]
    if best is not None:
        chosen = ", ".join(f"{k}={v}" for k, v in best.items() if k not in ROW_FIELDS)
        click.echo(f"selected: {chosen} (job {best['id']})")
        if result.get("adaptation"):  # a grid over methods: the selected one against source-only, label-free
            click.echo(result["adaptation"]["line"])
    else:
        click.echo("selected: none (no configuration finished with a score)")
    click.echo(f"written: {out}/sweep.csv, sweep.md, sweep.json")


@sweep_command.command("status")
@click.argument("sweep_dir", type=click.Path(exists=True, file_okay=False))
@json_option
def sweep_status_command(sweep_dir, as_json) -> None:
    """The state of every job under SWEEP_DIR (a sweep's or a table's --out), read from its directory.

    pending: never started; running: its worker holds the job's lock; interrupted: started, not
    finished, nobody runs it (the next launch resumes it; also a run whose summary.json is damaged);
    done; collapsed (its one line); diverged; failed (its error); damaged: its job.json is not what dann
    wrote (the next launch of the same command writes it again).
    """
    from .jobs import JobFileError, JobState, list_jobs, read_job, job_state

    def one(job_dir):
        try:
            return read_job(job_dir), job_state(job_dir)
        except JobFileError as exc:  # shown as "damaged", with the one line naming the file
            return {"id": job_dir.name, "label": {}, "config": {"steps": None}}, JobState(job_dir.name, "damaged", error=str(exc))

    with user_errors():
        jobs = [one(d) for d in list_jobs(sweep_dir)]
    if as_json:
        click.echo(json.dumps([{"id": r["id"], "label": r["label"], "state": s.state, "step": s.step, "of": r["config"]["steps"],
                                "pid": s.pid, "error": s.error} for r, s in jobs], indent=2))
        return
    if not jobs:
        click.echo(f"{sweep_dir}: no jobs")
        return
    counts = {}
    for _, state in jobs:
        counts[state.state] = counts.get(state.state, 0) + 1
    click.echo(f"{sweep_dir}: {len(jobs)} jobs: " + ", ".join(f"{n} {s}" for s, n in counts.items()))
    click.echo(f"  {'job':<12}  {'state':<11}  {'step':>13}  label")
    for record, state in jobs:
        label = " ".join(f"{k}={v}" for k, v in record["label"].items())
        step = f"{'-' if state.step is None else state.step}/{record['config']['steps'] or '?'}"
        note = f"  (pid {state.pid})" if state.pid else (f"  {state.error}" if state.error else "")
        click.echo(f"  {record['id']:<12}  {state.state:<11}  {step:>13}  {label}{note}")


@sweep_command.command("collect")
@click.argument("sweep_dir", type=click.Path(exists=True, file_okay=False))
@json_option
def sweep_collect_command(sweep_dir, as_json) -> None:
    """Build SWEEP_DIR's table (sweep.csv/.md/.json) from its job directories alone, trains nothing."""
    import_torch()
    from .sweep import collect

    with user_errors():
        result = collect(sweep_dir, registry=registry())
    _print_sweep(result, sweep_dir, as_json)
