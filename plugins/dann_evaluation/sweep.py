"""Hyper-parameter sweeps that select without target labels.

A grid maps config keys (as in ``--set``: ``lambda``, ``lr``, ``discriminator.width``, ...) to lists
of values; :func:`run_sweep` trains every combination and selects by

- ``reverse-validation`` (default): the lowest reverse validation risk
  (:func:`dann_evaluation.reverse_validation.reverse_validation`), ties broken by the reverse
  classifier's held-out cross-entropy (the risk takes few values on small held-out sets), or
- ``source-val``: the highest held-out source accuracy of the run's best checkpoint.

Remaining ties go to the configuration listed first. Target test accuracy is computed for every configuration
and written in its own column marked "reported only": it is never used to select.

Files written to the sweep directory: ``sweep.csv`` and ``sweep.md`` (one row per configuration),
``sweep.json`` (base config, grid, rows, the selected configuration and the selection rule).
"""
from __future__ import annotations

import csv
import dataclasses
import itertools
import json
import math
import time
from pathlib import Path
from typing import Any, Callable, Iterable

from dann_core.config import ConfigError, RunConfig, apply_layer, load_file, parse_set, split_key

SELECT = ("reverse-validation",)
"""Config-level rules; any selector plugin whose scores compare across runs works too (source-val, dev, snd, ...)."""
FORBIDDEN_KEYS = {"out": "a sweep writes its own files (use --out of dann sweep)"}
TARGET_COLUMN = "target_test_acc_reported_only"
SELECTION_NOTE = {
    "reverse-validation": "selected = lowest reverse validation risk (ties: lower reverse cross-entropy, then first listed); target test accuracy is reported only, never used to select",
}


def selection_note(select: str, selector=None) -> str:
    if select in SELECTION_NOTE:
        return SELECTION_NOTE[select]
    order = "highest" if selector is None or selector.higher_is_better else "lowest"
    return (f"selected = {order} score of selector {select} on each configuration's own selected checkpoint (ties: first listed); "
            "target test accuracy is reported only, never used to select")


class SweepError(ValueError):
    """A bad grid (unknown key, empty list, bad value); the message is one line."""


def _geomspace(text: str, key: str) -> list[float]:
    """``'geomspace:0.01:10:4'`` → 4 log-spaced values from 0.01 to 10 (both included)."""
    parts = text.split(":")
    try:
        if len(parts) != 4:
            raise ValueError
        start, stop, num = float(parts[1]), float(parts[2]), int(parts[3])
        if num < 1 or start <= 0 or stop <= 0:
            raise ValueError
    except ValueError:
        raise SweepError(f"sweep grid: bad '{key}={text}': write geomspace:START:STOP:NUM with START, STOP > 0 and NUM ≥ 1") from None
    if num == 1:
        return [start]
    ratio = (stop / start) ** (1.0 / (num - 1))
    return [float(f"{start * ratio**i:.6g}") for i in range(num)]


def _parse_values(text: str, key: str) -> list[Any]:
    """``'0,0.1,1'`` → [0, 0.1, 1]; an item ``geomspace:START:STOP:NUM`` expands to NUM log-spaced values."""
    values: list[Any] = []
    for item in text.split(","):
        item = item.strip()
        if not item:
            raise SweepError(f"sweep grid: empty value in '{key}={text}'")
        if item.startswith("geomspace:"):
            values.extend(_geomspace(item, key))
        else:
            values.append(parse_set(f"{key}={item}")[1])
    return values


def parse_grid(assignments: Iterable[str] = (), file: str | Path | None = None) -> dict[str, list[Any]]:
    """The grid from ``--grid KEY=V1,V2`` assignments and/or a file mapping keys to lists of values.

    Assignments override the file's entry for the same key. Keys are checked at once
    (:func:`validate_grid` checks them against the base config and the components).
    """
    grid: dict[str, list[Any]] = {}
    if file is not None:
        try:
            table = load_file(file)
        except ConfigError as exc:
            raise SweepError(f"sweep grid: {exc}") from None
        if isinstance(table.get("grid"), dict):  # a file may hold a [grid] table next to other settings
            table = table["grid"]
        for key, values in table.items():
            if isinstance(values, str):  # "0.1,1" or "geomspace:0.01:10:4", as on the command line
                values = _parse_values(values, str(key))
            elif not isinstance(values, list):
                values = [values]
            grid[str(key)] = list(values)
    for assignment in assignments:
        key, eq, text = assignment.partition("=")
        if not eq or not key.strip() or not text.strip():
            raise SweepError(f"sweep grid: expected KEY=V1,V2,... got {assignment!r}")
        grid[key.strip()] = _parse_values(text, key.strip())
    for key, values in grid.items():
        if not values:
            raise SweepError(f"sweep grid: '{key}' has no values")
    return grid


def validate_grid(
    grid: dict[str, list[Any]], base: RunConfig, registry=None, select: str = "reverse-validation"
) -> list[RunConfig]:
    """Every configuration of the grid over ``base``, in grid order; raises SweepError on bad keys/values.

    With a ``registry`` the component option names are checked too, and reverse validation refuses
    methods that train on labelled target data.
    """
    if not grid:
        raise SweepError("sweep grid is empty: give at least one --grid KEY=V1,V2,... (or --grid-file)")
    for key in grid:
        if key in FORBIDDEN_KEYS:
            raise SweepError(f"sweep grid: '{key}' cannot be swept: {FORBIDDEN_KEYS[key]}")
        try:
            split_key(key, "in the sweep grid")
        except ConfigError as exc:
            raise SweepError(f"sweep grid: {exc}") from None
    configs = []
    keys = list(grid)
    for combo in itertools.product(*(grid[k] for k in keys)):
        try:
            values = apply_layer(base.to_dict(), dict(zip(keys, combo)), "in the sweep grid")
            cfg = RunConfig.from_dict(values, "in the sweep grid")
        except ConfigError as exc:
            raise SweepError(f"sweep grid: {exc}") from None
        configs.append(cfg)
    if registry is not None:
        _check_components(configs, registry)
    if select in SELECT and registry is not None:
        for cfg in configs:
            if uses_target_labels(registry, cfg.method):
                raise SweepError(f"sweep: method {cfg.method} trains on target labels; reverse validation never uses them (use --select source-val)")
    return configs


def _check_components(configs: list[RunConfig], registry) -> None:
    from dann_core.config import check_components

    for cfg in configs:
        try:
            check_components(cfg, registry)
        except ConfigError as exc:
            raise SweepError(f"sweep grid: {str(exc).splitlines()[0]}") from None


def _label(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def run_sweep(
    base: RunConfig,
    grid: dict[str, list[Any]],
    out: str | Path | None = None,
    select: str = "reverse-validation",
    holdout: float = 0.1,
    progress: Callable[[str], None] | None = None,
    registry=None,
) -> dict[str, Any]:
    """Train every configuration of ``grid`` over ``base``; select by reverse validation or source val.

    Returns ``{"rows": [...], "selected": row, "select": ..., "selection": note, "grid", "base"}``;
    each row holds ``id``, the grid values, ``rv_risk`` (reverse-validation only), ``source_val_acc``,
    ``score``, ``selected`` and ``target_test_acc_reported_only``. With ``out`` the files described
    in the module docstring are written there.
    """
    from dann_core.train import DivergedError, fit
    from .reverse_validation import reverse_validation

    if registry is None:
        from dann_core.plugins import get_registry

        registry = get_registry()
    selector = sweep_selector(select, registry)
    configs = validate_grid(grid, base, registry, select)
    keys = list(grid)
    data_cache: dict[str, Any] = {}
    rows: list[dict[str, Any]] = []
    for index, cfg in enumerate(configs):
        started = time.perf_counter()
        data = _data_for(cfg, data_cache, registry)
        row: dict[str, Any] = {"id": index, **{k: _label(v) for k, v in zip(keys, _values_of(cfg, keys))}}
        try:
            if select == "reverse-validation":
                result = reverse_validation(cfg, data=data, holdout=holdout, registry=registry)
                row["rv_risk"] = round(result.risk, 6)
                row["rv_loss"] = round(result.reverse_loss, 6)
                row["source_val_acc"] = _round(result.forward_source_val_acc)
                row["score"] = row["rv_risk"]
                row[TARGET_COLUMN] = _round(result.target_test_acc)
            else:
                summary = fit(dataclasses.replace(cfg, select=select, select_options={}), data=data, registry=registry).summary
                row["source_val_acc"] = _round(summary["best_source_val_acc"])
                row["score"] = _round(summary["selector_score"])
                row[TARGET_COLUMN] = _round(summary["target_test_acc"])
            row["status"] = "ok"
        except DivergedError:  # a destructive configuration is a result (ranked last), not a crash
            row.update({"rv_risk": None, "rv_loss": None, "source_val_acc": None, "score": None, TARGET_COLUMN: None, "status": "diverged"})
        row["seconds"] = round(time.perf_counter() - started, 2)
        rows.append(row)
        if progress is not None:
            shown = ", ".join(f"{k}={row[k]}" for k in keys)
            progress(f"[{index + 1}/{len(configs)}] {shown}: score {row['score']} ({row['seconds']:.1f} s)")
    best = _select(rows, select, selector)
    for row in rows:
        row["selected"] = best is not None and row["id"] == best["id"]
    result = {
        "select": select,
        "selection": selection_note(select, selector),
        "grid": {k: [_label(v) for v in vs] for k, vs in grid.items()},
        "base": base.to_dict(),
        "holdout": holdout if select == "reverse-validation" else None,
        "rows": rows,
        "selected": best,
    }
    if out is not None:
        write_sweep(result, out)
    return result


def _values_of(cfg: RunConfig, keys: list[str]) -> list[Any]:
    values = cfg.to_dict()
    out = []
    for key in keys:
        name, option = split_key(key, "grid")
        out.append(values[name][option] if option is not None else values[name])
    return out


def _round(value: float | None) -> float | None:
    return None if value is None else round(float(value), 6)


def uses_target_labels(registry, method: str) -> bool:
    """Whether ``method`` (an algorithm plugin) declares it needs labelled target batches."""
    from dann_core.algorithms import TARGET_LABELLED

    return TARGET_LABELLED in getattr(registry.get("algorithm", method).factory, "needs", ())


def _data_for(cfg: RunConfig, cache: dict[str, Any], registry):
    from dann_core.train import build_dataset

    key = json.dumps([cfg.dataset, cfg.dataset_options, cfg.seed], sort_keys=True, default=str)
    if key not in cache:
        cache[key] = build_dataset(cfg, registry)
    return cache[key]


def sweep_selector(select: str, registry):
    """None for reverse-validation, else the selector plugin ``select`` (it must compare across runs)."""
    if select in SELECT:
        return None
    choices = ", ".join([*SELECT, *(n for n in registry.selectors if getattr(registry.selectors[n].factory, "across_runs", True))])
    if select not in registry.selectors:
        raise SweepError(f"unknown selection rule '{select}'; choose from {choices}")
    selector = registry.build("selector", select, {})
    if not selector.across_runs:
        raise SweepError(f"selector {select} ranks the checkpoints of one run and cannot compare configurations; choose from {choices}")
    return selector


def _select(rows: list[dict[str, Any]], select: str, selector=None) -> dict[str, Any] | None:
    """The best row (None when every configuration diverged).

    reverse-validation: lowest risk, ties broken by the reverse classifier's held-out cross-entropy,
    then by grid order; a selector: its best score (its own direction), ties by grid order.
    """

    def key(row: dict[str, Any]) -> tuple[float, float]:
        score = row["score"]
        if score is None or (isinstance(score, float) and math.isnan(score)):
            return (math.inf, math.inf)
        if select == "reverse-validation":
            loss = row.get("rv_loss")
            return (score, math.inf if loss is None else loss)
        return (-score if selector is None or selector.higher_is_better else score, 0.0)

    best = min(rows, key=key)  # min keeps the first of equal keys
    return None if key(best)[0] == math.inf else best


COLUMN_TITLES = {
    "id": "id",
    "rv_risk": "reverse validation risk ↓",
    "rv_loss": "reverse CE (tie-break) ↓",
    "source_val_acc": "source val acc",
    "status": "status",
    "selected": "selected",
    TARGET_COLUMN: "target test acc (reported only)",
    "seconds": "seconds",
}


def columns(result: dict[str, Any]) -> list[str]:
    keys = list(result["grid"])
    scores = ["rv_risk", "rv_loss", "source_val_acc"] if result["select"] == "reverse-validation" else ["source_val_acc"]
    return ["id", *keys, *scores, "status", "selected", TARGET_COLUMN, "seconds"]


def write_sweep(result: dict[str, Any], out: str | Path) -> list[Path]:
    """Write sweep.csv, sweep.md and sweep.json into ``out``; returns their paths."""
    from dann_core.files import write_json

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    cols = columns(result)
    csv_path, md_path, json_path = out / "sweep.csv", out / "sweep.md", out / "sweep.json"
    with csv_path.open("w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=cols, extrasaction="ignore")
        writer.writeheader()
        for row in result["rows"]:
            writer.writerow({k: ("" if row.get(k) is None else row.get(k)) for k in cols})
    md_path.write_text(format_markdown(result))
    write_json(result, json_path)
    return [csv_path, md_path, json_path]


def format_markdown(result: dict[str, Any]) -> str:
    cols = columns(result)

    def cell(row: dict[str, Any], key: str) -> str:
        value = row.get(key)
        if key == "selected":
            return "**yes**" if value else ""
        if value is None:
            return "n/a"
        return f"{value:.4f}" if isinstance(value, float) and key != "seconds" else str(value)

    lines = [
        f"Sweep of {len(result['rows'])} configurations; {result['selection']}.",
        "",
        "| " + " | ".join(COLUMN_TITLES.get(c, c) for c in cols) + " |",
        "|" + "|".join("---" for _ in cols) + "|",
    ]
    lines += ["| " + " | ".join(cell(row, c) for c in cols) + " |" for row in result["rows"]]
    return "\n".join(lines) + "\n"
