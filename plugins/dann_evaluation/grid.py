"""The grid grammar of a sweep: ``--grid KEY=V1,V2`` values, ``geomspace:``/``range:``/``logrange:`` items, grid files,
and the check of every configuration of a grid against the base config and the components.

A grid maps config keys (as in ``--set``: ``lambda``, ``lr``, ``discriminator.width``, ...) to lists of values
(a search, ``dann sweep --search``, also takes a :class:`Range`). Running and selecting live in
:mod:`dann_evaluation.sweep`; nothing here starts a run.
"""
from __future__ import annotations

import dataclasses
import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from dann_core.config import ConfigError, RunConfig, apply_layer, load_file, parse_set, split_key

DEFAULT_SELECT = "source-val"
"""The across-run selector with the best worst case on the selection benchmark (docs/selection.md#defaults)."""
FORBIDDEN_KEYS = {"out": "a sweep writes its own files (use --out of dann sweep)", "select": "the sweep's selector is --select"}


class SweepError(ValueError):
    """A bad grid (unknown key, empty list, bad value); the message is one line."""


@dataclass(frozen=True)
class Range:
    """A search range ``range:LOW:HIGH`` (uniform) or ``logrange:LOW:HIGH`` (log-uniform); ints stay ints."""

    low: float
    high: float
    log: bool = False

    @property
    def integer(self) -> bool:
        return isinstance(self.low, int) and isinstance(self.high, int)

    def __str__(self) -> str:
        return f"{'logrange' if self.log else 'range'}:{self.low}:{self.high}"


def _range(text: str, key: str) -> Range:
    parts = text.split(":")
    log = parts[0] == "logrange"
    try:
        if len(parts) != 3:
            raise ValueError
        low, high = (int(p) if p.strip().lstrip("-").isdigit() else float(p) for p in parts[1:])
        if not low < high or (log and low <= 0):
            raise ValueError
    except ValueError:
        raise SweepError(f"sweep grid: bad '{key}={text}': write {parts[0]}:LOW:HIGH with LOW < HIGH" + (" and LOW > 0" if log else "")) from None
    return Range(low, high, log)


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
    if text.strip().startswith(("range:", "logrange:")):
        return [_range(text.strip(), key)]
    for item in text.split(","):
        item = item.strip()
        if not item:
            raise SweepError(f"sweep grid: empty value in '{key}={text}'")
        if item.startswith(("range:", "logrange:")):
            raise SweepError(f"sweep grid: '{key}={text}': a range is the key's only value (--grid {key}={item})")
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
    grid: dict[str, list[Any]], base: RunConfig, registry=None, select: str = DEFAULT_SELECT, search: bool = False
) -> list[RunConfig]:
    """Every configuration of the grid over ``base``, in grid order; raises SweepError on bad keys/values.

    With a ``registry`` the component option names are checked too, and reverse validation refuses
    methods that train on labelled target data. ``search``: ranges are allowed, and each is checked
    at its two ends (a search draws between them).
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
    for key, values in grid.items():
        if any(isinstance(v, Range) for v in values) and not search:
            raise SweepError(f"sweep grid: '{key}' is a range; a grid needs values (geomspace:START:STOP:NUM), a range needs --search optuna")
    configs = []
    keys = list(grid)
    ends = {k: [end for v in vs for end in ((v.low, v.high) if isinstance(v, Range) else (v,))] for k, vs in grid.items()}
    for combo in itertools.product(*(ends[k] for k in keys)):
        try:
            values = apply_layer(base.to_dict(), dict(zip(keys, combo)), "in the sweep grid")
            cfg = RunConfig.from_dict(values, "in the sweep grid")
        except ConfigError as exc:
            raise SweepError(f"sweep grid: {exc}") from None
        if "method" in keys and registry is not None and cfg.method in registry.of_kind("method"):
            # as in a table: the base's method options reach the methods that take them (--lambda: not source-only)
            accepted = registry.get("method", cfg.method).options
            cfg = dataclasses.replace(cfg, method_options={k: v for k, v in cfg.method_options.items() if str(k).replace("-", "_") in accepted})
        configs.append(cfg)
    if registry is not None:
        _check_components(configs, registry)
    if registry is not None:  # whatever the selector: a chosen configuration must not have seen target labels
        from .across import uses_target_labels

        for cfg in configs:
            if uses_target_labels(registry, cfg.method):
                raise SweepError(f"sweep: method {cfg.method} trains on target labels, and a sweep chooses without them "
                                 "(dann table reports target-oracle beside the methods as a reference)")
    return configs


def _check_components(configs: list[RunConfig], registry) -> None:
    from dann_core.config import check_components

    for cfg in configs:
        try:
            check_components(cfg, registry)
        except ConfigError as exc:
            raise SweepError(f"sweep grid: {str(exc).splitlines()[0]}") from None
