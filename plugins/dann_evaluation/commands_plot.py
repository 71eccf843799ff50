"""``dann plot RUN_DIR``: the run's figures as PNG files (a thin Click wrapper over :mod:`dann_evaluation.plots`)."""
from __future__ import annotations

import click

from dann_core.cli import import_torch, registry, user_errors

from .command_options import echo_err


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
    import_torch()
    from .plots import plot_run

    with user_errors():
        paths = plot_run(run_dir, registry=registry(), checkpoint=checkpoint, out=out, tsne=tsne, baseline=baseline, max_points=max_points, seed=seed,
                         notice=lambda message: echo_err(f"notice: {message}"), progress=echo_err)
    for path in paths:
        click.echo(f"wrote {path}")
