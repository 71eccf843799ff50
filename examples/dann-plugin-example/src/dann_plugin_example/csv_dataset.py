"""``csv-table``: a tabular domain-adaptation problem from one CSV file.

Columns: any number of numeric feature columns, a label column (class names or integers) and a
domain column whose value is ``source_value`` or ``target_value`` for each row.
"""
from __future__ import annotations

import csv
from importlib import resources
from pathlib import Path

import torch

from dann_core.specs import DomainData, Split


def read_table(path: Path, label_column: str, domain_column: str) -> tuple[list[str], list[dict[str, str]]]:
    """The feature column names and the rows of ``path``; ValueError naming the file otherwise."""
    try:
        with open(path, newline="") as file:
            reader = csv.DictReader(file)
            rows = list(reader)
            columns = list(reader.fieldnames or [])
    except UnicodeDecodeError:
        raise ValueError(f"csv-table: {path} is not a text CSV file") from None
    for column in (label_column, domain_column):
        if column not in columns:
            raise ValueError(f"csv-table: {path} has no column '{column}'; columns: {', '.join(columns) or '(none)'}")
    if not rows:
        raise ValueError(f"csv-table: {path} has no rows")
    return [c for c in columns if c not in (label_column, domain_column)], rows


def csv_table(
    seed: int,
    path: Path | None = None,
    label_column: str = "label",
    domain_column: str = "domain",
    source_value: str = "source",
    target_value: str = "target",
    val_fraction: float = 0.2,
    standardize: bool = True,
) -> DomainData:
    """Rows of a CSV file split into source and target by a domain column (default: the bundled blobs.csv).

    Options:
      path: the CSV file (relative paths are made absolute when the run's config is resolved).
      label_column, domain_column: column names; source_value/target_value: the domain column's values.
      val_fraction: share of source rows held out for source validation (seeded).
      standardize: scale features by the source training rows' mean and standard deviation.
    """
    if not 0 < val_fraction < 1:
        raise ValueError(f"csv-table: val_fraction must be in (0, 1), got {val_fraction}")
    path = path or Path(str(resources.files("dann_plugin_example") / "data" / "blobs.csv"))
    features, rows = read_table(path, label_column, domain_column)
    classes = sorted({row[label_column] for row in rows}, key=_natural)
    x, y, domain = [], [], []
    for number, row in enumerate(rows, start=2):
        if row[domain_column] not in (source_value, target_value):
            raise ValueError(
                f"csv-table: {path} line {number}: domain '{row[domain_column]}' is neither source_value "
                f"'{source_value}' nor target_value '{target_value}'"
            )
        try:
            x.append([float(row[c]) for c in features])
        except ValueError:
            raise ValueError(f"csv-table: {path} line {number}: a feature is not a number") from None
        y.append(classes.index(row[label_column]))
        domain.append(row[domain_column] == target_value)
    x, y, is_target = torch.tensor(x, dtype=torch.float32), torch.tensor(y), torch.tensor(domain)
    if len(classes) < 2 or is_target.all() or not is_target.any():
        raise ValueError(f"csv-table: {path} needs at least 2 classes and rows of both domains")
    order = torch.randperm(int((~is_target).sum()), generator=torch.Generator().manual_seed(seed))
    xs, ys = x[~is_target][order], y[~is_target][order]
    n_val = max(1, int(len(xs) * val_fraction))
    xt, yt = x[is_target], y[is_target]
    if standardize:
        mean, std = xs[n_val:].mean(0), xs[n_val:].std(0).clamp_min(1e-6)
        xs, xt = (xs - mean) / std, (xt - mean) / std
    return DomainData(
        source_train=Split(xs[n_val:], ys[n_val:]),
        source_val=Split(xs[:n_val], ys[:n_val]),
        target_train=Split(xt, yt),  # labels only for the target-oracle method
        target_test=Split(xt, yt),
        num_classes=len(classes),
        input_shape=(len(features),),
        class_names=classes,
    )


def _natural(label: str):
    return (0, int(label), "") if label.lstrip("-").isdigit() else (1, 0, label)
