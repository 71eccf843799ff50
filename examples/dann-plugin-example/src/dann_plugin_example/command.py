"""``dann csv-summary FILE``: what csv-table would read from a CSV file."""
from __future__ import annotations

from collections import Counter

import click

from dann_core.cli import user_errors


@click.command("csv-summary")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--label-column", default="label", show_default=True)
@click.option("--domain-column", default="domain", show_default=True)
def csv_summary(path, label_column, domain_column):
    """Rows per domain and class of a CSV file, as the csv-table dataset reads it."""
    from .csv_dataset import read_table  # here, not at import: listing commands must not import torch

    with user_errors():  # its ValueErrors become one "Error:" line, exit status 2
        features, rows = read_table(path, label_column, domain_column)
    click.echo(f"{path}: {len(rows)} rows, {len(features)} features ({', '.join(features)})")
    for (domain, label), count in sorted(Counter((r[domain_column], r[label_column]) for r in rows).items()):
        click.echo(f"  {domain:>8} {label:>8} {count}")
