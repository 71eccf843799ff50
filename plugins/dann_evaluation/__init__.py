"""The evaluation commands, a first-party plugin (entry point ``evaluation = "dann_evaluation"``).

- ``dann eval pad RUN_DIR``: proxy A-distance on raw inputs and on the run's learned features.
- ``dann eval select RUN_DIR``: every selector's choice among the run's checkpoints, with its regret.
- ``dann sweep``: a hyper-parameter grid (or an Optuna search) as resumable jobs, selected by a label-free selector
  (``sweep status``/``sweep collect``: the jobs' states, the table from their directories).
- ``dann plot RUN_DIR``: embeddings (PCA, t-SNE), decision/domain boundaries (2-D inputs), curves.
- ``dann table``: source-only / dann / target-oracle over seeds, mean ± std target accuracy.

The maths lives in this package (pad, plots, sweep, search, tables, jobs, launch, report); the commands are thin Click wrappers, wired exactly as a
third-party command plugin would be. Heavy imports (torch, scikit-learn, matplotlib) happen inside
the commands; each builds from the command line's registry (so ``dann --no-plugins`` holds).
"""
from __future__ import annotations

import contextlib
import json

import click

from dann_core import hookimpl
from dann_core.cli import registry, user_errors


def _echo_err(message: str) -> None:
    click.echo(message, err=True)


def _base_config(config_file, sets, flags):
    from dann_core import config as config_io

    return config_io.resolve(config_file, sets, {k: v for k, v in flags.items() if v is not None}, registry=registry())


config_option = click.option("--config", "config_file", type=click.Path(exists=True, dir_okay=False),
                             help="TOML, YAML or JSON file of run settings (the base config).")
set_option = click.option("--set", "sets", multiple=True, metavar="KEY=VALUE", help="Override one base setting (as in dann run); repeatable.")
json_option = click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")


# ------------------------------------------------------------------------------------------- pad


@click.command("pad")
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.option("--checkpoint", type=click.Choice(["best", "last"]), default="best", show_default=True, help="Which checkpoint's features.")
@click.option("--split", type=click.Choice(["train", "test"]), default="train", show_default=True,
              help="train: source_train vs target_train; test: source_val vs target_test.")
@click.option("--max-samples", type=click.IntRange(min=4), default=1000, show_default=True, help="Samples per domain (random subset).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the subset and of the 50/50 split.")
@click.option("--baseline", type=click.Path(exists=True, file_okay=False), help="Also measure this run's features (e.g. the source-only run).")
@click.option("--no-write", is_flag=True, help="Do not store the result in RUN_DIR/pad.json.")
@json_option
def pad_command(run_dir, checkpoint, split, max_samples, seed, baseline, no_write, as_json) -> None:
    """Proxy A-distance d_A = 2(1 - 2 err) of RUN_DIR: raw inputs vs learned features.

    err is the held-out error of linear SVMs (C in logspace(-5, 4, 10), the best kept) separating
    source from target samples (JMLR 2016, §5.1.3). 0: indistinguishable domains; 2: separable.
    """
    from .pad import run_pad

    with user_errors():
        result = run_pad(run_dir, registry=registry(), checkpoint=checkpoint, split=split, max_samples=max_samples, seed=seed,
                         baseline=baseline, write=not no_write)
    if as_json:
        click.echo(json.dumps(result, indent=2))
        return
    click.echo(f"proxy A-distance of {run_dir} ({checkpoint}.pt, step {result['step']}; {result['split']}):")
    rows = [("raw inputs (before adaptation)", result["raw"]), ("learned features", result["features"])]
    if "baseline" in result:
        rows.append((f"features of {result['baseline']['method']} baseline", result["baseline"]))
    for name, r in rows:
        click.echo(f"  {name:<34} PAD {r['pad']:.3f}  (error {r['error']:.3f}, C={r['C']:g}, {r['n_source']}+{r['n_target']} samples, {r['dim']} dims)")
    if not no_write:
        click.echo(f"written to {run_dir}/pad.json")


# ---------------------------------------------------------------------------------------- select


@click.command("select")
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.option("--device", default="cpu", show_default=True, help="torch device for re-scoring candidates.")
@click.option("--skip", multiple=True, metavar="SELECTOR", help="Leave this selector out (reverse-val trains a model per candidate); repeatable.")
@click.option("--no-cache", is_flag=True, help="Score every candidate again (scores are kept in RUN_DIR/select-cache.json).")
@json_option
def select_command(run_dir, device, skip, no_cache, as_json) -> None:
    """Every selector's choice among RUN_DIR's checkpoints: step, estimated target accuracy, and target
    accuracy and regret (reported only).

    Selectors choose among all evaluated steps from the scores in metrics.jsonl or from the logits the
    run stored per evaluation (RUN_DIR/views; set-level selectors such as ensv score them as one set);
    the others (dev, classami: features; reverse-val) score the kept candidates, one line of progress
    each. Scores are kept in RUN_DIR/select-cache.json for the next call. Collapsed evaluations are
    never chosen. No selector reads a target label; the estimate (ATC) needs none either; the target
    accuracy and the regret against the best evaluated step are shown for judging selectors only.
    """
    from .report import select_report

    with user_errors():
        report = select_report(run_dir, registry=registry(), device=device, skip=skip, progress=_echo_err, cache=not no_cache)
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    best = report["best_target_test_acc_in_hindsight"]
    click.echo(f"{run_dir}: best target acc among evaluated steps {'n/a' if best is None else f'{best:.4f}'} (reported only)")
    click.echo(f"  {'selector':<14} {'step':>7} {'score':>10} {'estimate':>9} {'target acc':>10} {'regret':>8}  scored on")
    for row in report["rows"]:
        mark = " *" if row["run_selector"] else ""
        cells = [_fmt(row["score"], ".4g"), _fmt(row.get("target_acc_estimate"), ".4f"), _fmt(row["target_test_acc_reported_only"], ".4f"),
                 _fmt(row["regret_reported_only"], ".4f")]
        click.echo(f"  {row['selector'] + mark:<14} {str(row['step']):>7} {cells[0]:>10} {cells[1]:>9} {cells[2]:>10} {cells[3]:>8}  {row['scored_on']}")
    click.echo("  * the run's own selector (best.pt). " + report["note"])


def _fmt(value, spec: str) -> str:
    return "n/a" if value is None else format(value, spec)


# ----------------------------------------------------------------------------------------- sweep

launcher_option = click.option("--launcher", default="local", show_default=True, metavar="NAME[OPTION=VALUE,...]",
                               help="Where the jobs run: local (worker processes), submitit (Slurm), ray, or a plugin's.")
workers_option = click.option("--workers", type=click.IntRange(1, 4096), default=1, show_default=True,
                              help="Jobs running at once (local: processes, each with cores // N threads or one GPU).")
retry_option = click.option("--retry-failed", is_flag=True, help="Run failed jobs again (finished ones are always kept).")


def _no_plugins_to_workers() -> None:
    """Jobs run in fresh processes: --no-plugins reaches them through the environment."""
    import os

    from dann_core.plugins.manager import AUTOLOAD_ENV

    if click.get_current_context().find_root().meta.get("dann.no_plugins"):
        os.environ[AUTOLOAD_ENV] = "1"


@contextlib.contextmanager
def _stop_signals():
    """Ctrl-C, SIGTERM and SIGHUP stop a sweep or table the same way (its jobs end resumable); one
    that lands outside the launch (writing the jobs, collecting) is one line too, exit status 130."""
    from dann_core import stops

    try:
        with stops.handled():
            yield
    except KeyboardInterrupt:
        _echo_err("interrupted; finished jobs are kept: the same command continues the rest")
        raise SystemExit(130) from None


def _finish(message: str | None, interrupted: bool) -> None:
    """The one closing line of a sweep or table that did not finish; exit 130 (Ctrl-C) or 1."""
    if message is None:
        return
    _echo_err(message)
    raise SystemExit(130 if interrupted else 1)


@click.group("sweep", invoke_without_command=True, subcommand_metavar="[status DIR | collect DIR]")
@config_option
@set_option
@click.option("--grid", "grid_items", multiple=True, metavar="KEY=V1,V2,...",
              help="Values of one setting to sweep; repeatable. KEY=geomspace:START:STOP:NUM gives log-spaced values; "
                   "with --search, KEY=range:LOW:HIGH or KEY=logrange:LOW:HIGH is a range.")
@click.option("--grid-file", type=click.Path(exists=True, dir_okay=False), help="TOML/YAML/JSON mapping keys to lists of values (or a [grid] table).")
@click.option("--select", default="source-val", show_default=True, metavar="SELECTOR",
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
    with _stop_signals():
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
        base = _base_config(config_file, sets, {"dataset": dataset, "backbone": backbone, "discriminator": discriminator, "method": method, "steps": steps})
        grid = parse_grid(grid_items, grid_file)
        added = "method" in grid and "source-only" not in grid["method"] and not any(k.startswith("method.") for k in grid)
        if added:  # a choice among methods always has source-only among them
            grid["method"] = ["source-only", *grid["method"]]
        validate_grid(grid, base, registry(), select, search=bool(search))  # before anything is printed or written
        if added:
            _echo_err("source-only added to the method grid: it is always a candidate of the choice")
        if out is None:
            out = Path("runs") / f"sweep-{base.dataset}-{datetime.now(timezone.utc).strftime('%Y%m%d-%H%M%S')}"
        _no_plugins_to_workers()
        if search:
            from .search import run_search

            _echo_err(f"searching {trials} trials of {base.dataset} with {search}, selecting by {select}; writing {out}")
            result = run_search(base, grid, out, select=select, trials=trials, seed=search_seed, registry=registry(),
                                launcher=launcher, workers=workers, retry_failed=retry_failed)
        else:
            _echo_err(f"sweeping {base.dataset}, selecting by {select}; writing {out}")
            result = run_sweep(base, grid, out, select=select, registry=registry(), launcher=launcher, workers=workers, retry_failed=retry_failed)
    launched = result.pop("launch")
    _print_sweep(result, out, as_json)
    _finish(incomplete_message(launched, out, "configurations"), launched.interrupted)


def _print_sweep(result, out, as_json: bool) -> None:
    from .sweep import ROW_FIELDS, format_markdown

    for message in result.get("skipped", ()):  # a job whose files are damaged, left out of the table
        _echo_err(f"warning: skipped: {message}")
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
    from .sweep import collect

    with user_errors():
        result = collect(sweep_dir, registry=registry())
    _print_sweep(result, sweep_dir, as_json)


# ------------------------------------------------------------------------------------------ plot


@click.command("plot")
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.option("--checkpoint", type=click.Choice(["best", "last"]), default="best", show_default=True)
@click.option("--out", type=click.Path(file_okay=False), help="Directory of the PNG files [default: RUN_DIR/plots].")
@click.option("--tsne/--no-tsne", default=True, show_default=True, help="Also draw the t-SNE embedding.")
@click.option("--baseline", type=click.Path(exists=True, file_okay=False),
              help="Draw this run's features (e.g. source-only) as 'before adaptation' instead of raw inputs.")
@click.option("--max-points", type=click.IntRange(min=10), default=1000, show_default=True, help="Points in the embeddings (half per domain).")
@click.option("--seed", type=int, default=0, show_default=True)
def plot_command(run_dir, checkpoint, out, tsne, baseline, max_points, seed) -> None:
    """Draw the figures of RUN_DIR as PNG files.

    embedding_pca.png / embedding_tsne.png (source vs target before and after adaptation, marker =
    class), boundary.png (label and domain boundaries; 2-D inputs only) and curves.png.
    """
    from .plots import plot_run

    with user_errors():
        paths = plot_run(run_dir, registry=registry(), checkpoint=checkpoint, out=out, tsne=tsne, baseline=baseline, max_points=max_points, seed=seed,
                         notice=lambda message: _echo_err(f"notice: {message}"), progress=_echo_err)
    for path in paths:
        click.echo(f"wrote {path}")


# ----------------------------------------------------------------------------------------- table


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
@click.option("--choose", default="source-val", show_default=True, metavar="SELECTOR",
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
    with _stop_signals():
        _table(config_file, sets, dataset, backbone, discriminator, steps, seeds, methods, out, launcher, workers, retry_failed, as_json, choose)


def _table(config_file, sets, dataset, backbone, discriminator, steps, seeds, methods, out, launcher, workers, retry_failed, as_json,
           choose="source-val") -> None:
    from .across import SOURCE_ONLY, across_selector
    from .tables import JobsIncomplete, parse_methods, parse_seeds, run_table

    incomplete = None
    with user_errors():
        base = _base_config(config_file, sets, {"dataset": dataset, "backbone": backbone, "discriminator": discriminator, "steps": steps})
        seed_list, method_list = parse_seeds(seeds), parse_methods(methods, registry())
        if choose != "none":
            across_selector(choose, registry())  # a bad --choose fails before anything is trained
        if choose != "none" and SOURCE_ONLY not in method_list:  # source-only is always a candidate of the choice
            method_list = [SOURCE_ONLY, *method_list]
            _echo_err("source-only added to --methods: it is always a candidate of the label-free choice")
        _no_plugins_to_workers()
        try:
            rows, paths = run_table(base, seed_list, method_list, out=out, registry=registry(), launcher=launcher, workers=workers, retry_failed=retry_failed)
        except JobsIncomplete as exc:
            incomplete, (rows, paths) = exc, exc.result
    with user_errors():
        choice = None if choose == "none" else _table_choice(out, base, seed_list, method_list, choose)
    _print_table(rows, paths, as_json, choice)
    if incomplete is not None:
        _finish(str(incomplete), incomplete.interrupted)


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
            what = "nothing" if picked is None else (f"{picked['label']} step {picked['step']}, estimated {_fmt(picked['target_acc_estimate'], '.4f')}, "
                                                      f"target acc {_fmt(picked['target_test_acc_reported_only'], '.4f')} (reported only)")
            click.echo(f"seed {seed['seed']}: chosen {what}; {seed['adaptation']}" + (f" (settings: {settings})" if settings else ""))
        click.echo(choice["summary"])
    click.echo(f"written: {paths[0]}, {paths[1]}" + (f", {choice['path']}" if choice else ""))


# ---------------------------------------------------------------------------------------- plugin


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
