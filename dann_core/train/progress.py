"""The progress bar of a run (tqdm on stderr) and the metrics it shows: the method's
``progress_metrics`` (:class:`dann_core.methods.Method`), then the last evaluation's accuracies."""
from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any

EVALUATION_LABELS = {"source_val_acc": "val", "target_test_acc": "test"}
"""The trainer's own entries of the bar, after the method's."""


def labels(method) -> dict[str, str]:
    """Metric name → its label in the bar: the method's ``progress_metrics`` (a dict name → label, or
    names shown as they are), then source val and target test accuracy."""
    declared = method.progress_metrics
    own = dict(declared) if isinstance(declared, Mapping) else {name: name for name in declared}
    return {**own, **EVALUATION_LABELS}


def postfix(values: dict[str, Any], names: dict[str, str]) -> dict[str, str]:
    """The bar's entries from ``values`` (numbers or 0-dim tensors); a name without a value is left out."""
    return {label: f"{float(values[key]):.3f}" for key, label in names.items() if values.get(key) is not None}


def bar(total: int, initial: int, quiet: bool):
    """A tqdm bar over the run's steps, hidden when ``quiet`` or stderr is not a terminal."""
    from tqdm.auto import tqdm

    disable = quiet or not sys.stderr.isatty()
    size = _terminal_size()
    if size is None or not (size.columns and size.lines):
        # a pseudo-terminal without a window size (script, CI runners, editors) reports 0 x 0, where
        # tqdm sizes the bar to nothing and hides it: draw it at the usual 80 x 24 instead
        return tqdm(total=total, initial=initial, disable=disable, desc="dann", unit="step", ncols=80, nrows=24)
    return tqdm(total=total, initial=initial, disable=disable, desc="dann", unit="step", dynamic_ncols=True)


def _terminal_size():
    import os

    try:
        return os.get_terminal_size(sys.stderr.fileno())
    except (OSError, ValueError, AttributeError):
        return None
