"""summary.json, the file a run writes when it finishes: what dann reads back from it, checked once.

``dann run --resume`` of a finished run, sweeps and tables read summary.json. A file that lost an
entry, holds another type (``"selector_score": "NaN?"``), is not JSON or is not a table at all
was not written by a finished run, whatever damaged it: :func:`read` treats it as missing (the run
is not finished, and resuming it writes the file again from last.pt) and :func:`damage` says what is
wrong in one line naming the file. Torch-free, so that ``dann sweep status`` stays quick.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from . import files

FILE = "summary.json"

_TEXT, _INT, _NUMBER = (str,), (int,), (int, float)
FIELDS: dict[str, tuple[tuple[type, ...], bool]] = {
    "method": (_TEXT, False), "dataset": (_TEXT, False), "backbone": (_TEXT, False), "discriminator": (_TEXT, False),
    "seed": (_INT, False), "steps": (_INT, False), "best_step": (_INT, True), "best_source_val_acc": (_NUMBER, True),
    "target_test_acc": (_NUMBER, True), "selector": (_TEXT, False), "selector_score": (_NUMBER, True),
    "seconds": (_NUMBER, False), "run_dir": (_TEXT, True), "final": ((dict,), False),
}
"""The entries dann reads back, their types, and whether null is allowed (a number may be NaN, which
Python's JSON writes for a NaN score). Other entries are free: a run may write more."""
FINAL_FIELDS = ("step", "source_val_acc", "target_test_acc")
"""The entries of ``final`` (the last evaluation) dann reads back: numbers or null."""


def _kind(types: tuple[type, ...]) -> str:
    return {_NUMBER: "a number", _INT: "an integer", _TEXT: "a string"}.get(types, "a table")


def problem(summary: Any) -> str | None:
    """What makes ``summary`` (summary.json's content) other than what a finished run writes; None when nothing."""
    if not isinstance(summary, dict):
        return f"it holds a JSON {type(summary).__name__}, not a table of results"
    for key, (types, nullable) in FIELDS.items():
        if key not in summary:
            return f'it has no "{key}"'
        value = summary[key]
        if value is None and nullable:
            continue
        if isinstance(value, bool) or not isinstance(value, types):
            return f'"{key}" is {json.dumps(value)[:40]}, not {_kind(types)}'
    for key in FINAL_FIELDS:
        value = summary["final"].get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, _NUMBER)):
            return f'"final"."{key}" is {json.dumps(value)[:40]}, not a number'
    return None


def damage(run_dir: str | Path) -> str | None:
    """One line naming ``run_dir``'s summary.json and what is wrong with it; None when it is missing or sound."""
    path = Path(run_dir) / FILE
    if not path.exists() and not path.is_symlink():
        return None
    try:
        summary = files.read_json(path)
    except files.CorruptFileError as exc:
        return str(exc).split("; ")[0]
    except OSError as exc:
        return f"{path}: {exc.strerror or exc}"
    found = problem(summary)
    return None if found is None else f"{path} is damaged ({found})"


def read(run_dir: str | Path) -> dict[str, Any] | None:
    """The run's summary.json; None when it is missing, unreadable or damaged (:func:`problem`)."""
    try:
        summary = files.read_json(Path(run_dir) / FILE)
    except (OSError, ValueError):
        return None
    return summary if problem(summary) is None else None
