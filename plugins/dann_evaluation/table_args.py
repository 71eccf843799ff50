"""What a table's ``--seeds`` and ``--methods`` mean: seed lists (``0,1,2``, ``0-4``), method entries
with bracketed options (``cdan[entropy=true]``), and the run config of one entry."""
from __future__ import annotations

import dataclasses
from typing import Iterable

from dann_core.config import RunConfig, split_component


def parse_seeds(text: str) -> list[int]:
    """``'0,1,2'`` → [0, 1, 2]; ``'0-4'`` → [0, 1, 2, 3, 4]; one-line ValueError otherwise."""
    seeds: list[int] = []
    for part in str(text).split(","):
        part = part.strip()
        try:
            if "-" in part:
                lo, hi = part.split("-", 1)
                span = range(int(lo), int(hi) + 1)
                if not span:
                    raise ValueError
                seeds.extend(span)
            else:
                seeds.append(int(part))
        except ValueError:
            raise ValueError(f"bad seed list {text!r}: write seeds ≥ 0 separated by commas, e.g. 0,1,2 or 0-4") from None
    if not seeds:
        raise ValueError(f"bad seed list {text!r}: no seeds")
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"bad seed list {text!r}: a seed is repeated")
    return seeds


def parse_methods(text: str | Iterable[str], registry=None, base: RunConfig | None = None) -> list[str]:
    """``'source-only,dann,cdan[entropy=true,random_dim=512]'`` → one entry per method (commas inside
    brackets stay); names are checked against ``registry``'s methods when given, and each entry's
    options with those it inherits from ``base``'s method options (``--set method.plus=mcc`` with
    ``dann[mcc_weight=0.2]``) as the run will get them."""
    if isinstance(text, str):
        entries, depth, current = [], 0, ""
        for char in text:
            depth += {"[": 1, "]": -1}.get(char, 0)
            if char == "," and depth == 0:
                entries.append(current)
                current = ""
            else:
                current += char
        entries.append(current)
    else:
        entries = list(text)
    names = [entry.strip() for entry in entries if entry.strip()]
    if not names:
        raise ValueError("no methods given")
    for entry in names:
        name, options = split_method(entry)
        if registry is not None:
            spec = registry.get("method", name)
            from dann_core.plugins import validate_options

            if base is not None:
                options = method_config(base, entry, registry).method_options
            validate_options(spec, options, kind="method")
    return names


split_method = split_component  # the grammar lives in dann_core.config (launchers use it too)


def method_config(base: RunConfig, entry: str, registry=None) -> RunConfig:
    """``base`` with the method of ``entry``: its bracketed options over those of the base config's
    method options that this method takes (``--lambda`` reaches dann and cdan, not source-only)."""
    from dann_core.plugins import get_registry

    name, options = split_method(entry)
    accepted = (registry if registry is not None else get_registry()).get("method", name).options
    inherited = {k: v for k, v in base.method_options.items() if str(k).replace("-", "_") in accepted}
    return dataclasses.replace(base, method=name, method_options={**inherited, **options})
