"""``dann eval pad RUN_DIR`` (proxy A-distance) and ``dann eval select RUN_DIR`` (every selector's choice among the run's checkpoints).

Thin Click wrappers over :mod:`dann_evaluation.pad` and :mod:`dann_evaluation.report`; the heavy imports happen inside the commands.
"""
from __future__ import annotations

import json

import click

from dann_core.cli import import_torch, registry, user_errors

from .command_options import echo_err, fmt, json_option


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
    import_torch()
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
    import_torch()
    from .report import select_report

    with user_errors():
        report = select_report(run_dir, registry=registry(), device=device, skip=skip, progress=echo_err, cache=not no_cache)
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    best = report["best_target_test_acc_in_hindsight"]
    click.echo(f"{run_dir}: best target acc among evaluated steps {'n/a' if best is None else f'{best:.4f}'} (reported only)")
    click.echo(f"  {'selector':<14} {'step':>7} {'score':>10} {'estimate':>9} {'target acc':>10} {'regret':>8}  scored on")
    for row in report["rows"]:
        mark = " *" if row["run_selector"] else ""
        cells = [fmt(row["score"], ".4g"), fmt(row.get("target_acc_estimate"), ".4f"), fmt(row["target_test_acc_reported_only"], ".4f"),
                 fmt(row["regret_reported_only"], ".4f")]
        click.echo(f"  {row['selector'] + mark:<14} {str(row['step']):>7} {cells[0]:>10} {cells[1]:>9} {cells[2]:>10} {cells[3]:>8}  {row['scored_on']}")
    click.echo("  * the run's own selector (best.pt). " + report["note"])
