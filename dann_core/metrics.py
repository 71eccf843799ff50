"""Accuracy evaluation, running means of step metrics and the append-only metrics.jsonl log."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch

from . import files
from .rows import batches, eval_batch
from .specs import Split



@torch.no_grad()
def accuracy(predict, split: Split, device: torch.device | str = "cpu") -> float | None:
    """Fraction of ``split`` whose predicted class equals its label (None when it has no labels).

    ``predict(x)`` returns class logits ``(N, C)`` or class indices ``(N,)``.
    """
    if split.y is None or len(split) == 0:
        return None
    correct, start = 0, 0
    for x in batches(split.x, eval_batch(device, split.x), device):
        out = predict(x)
        labels = out.argmax(dim=1) if out.dim() == 2 else out
        correct += int((labels.cpu() == split.y[start : start + len(x)]).sum())
        start += len(x)
    return correct / len(split)


class RunningMeans:
    """Means of each step metric since the last :meth:`pop`.

    Metrics may be tensors on the run's device: a step's tensors are stacked and added in two ops
    (not two per metric), and read back in one host sync by :meth:`pop`, at evaluation time. A mean
    divides by the steps of the window, also for a metric some of its steps did not report.
    """

    def __init__(self) -> None:
        self.sums: dict[str, Any] = {}  # numbers by key
        self.stacked: dict[tuple[str, ...], torch.Tensor] = {}  # tensor sums by the tuple of their keys
        self.count = 0

    @torch.no_grad()
    def add(self, metrics: dict[str, Any]) -> None:
        keys, values = [], []
        for key, value in metrics.items():
            if isinstance(value, torch.Tensor):
                keys.append(key)
                values.append(value if value.dtype == torch.float32 else value.float())
            else:
                self.sums[key] = self.sums[key] + value if key in self.sums else value
        if keys:
            step = torch.stack(values)
            group = tuple(keys)
            if group in self.stacked:
                self.stacked[group].add_(step)
            else:
                self.stacked[group] = step
        self.count += 1

    def pop(self) -> dict[str, float]:
        totals = dict(self.sums)
        for group, total in self.stacked.items():
            for key, value in zip(group, total.tolist()):
                totals[key] = totals[key] + value if key in totals else value
        means = {key: float(total) / self.count for key, total in totals.items()} if self.count else {}
        self.sums, self.stacked, self.count = {}, {}, 0
        return means


class MetricsLog:
    """metrics.jsonl: one JSON object per evaluation, each line flushed and fsynced when written."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def append(self, record: dict[str, Any]) -> None:
        with files.open_append(self.path) as file:  # never through a link (files.refuse_links)
            try:
                file.write(json.dumps(record) + "\n")
                file.flush()
                os.fsync(file.fileno())
            except OSError as exc:
                raise files.name_file(exc, self.path) from None

    def read(self) -> list[dict[str, Any]]:
        """Every record. A last line without its newline (torn by a kill mid-write) is skipped; any
        other line that is not a JSON object with an integer ``step`` raises
        :class:`~dann_core.files.CorruptFileError` naming the file and line."""
        if not self.path.exists():
            return []
        lines = self.path.read_bytes().split(b"\n")
        torn = lines.pop()  # b"" when the file ends with a newline
        records = []
        for number, line in enumerate(lines, start=1):
            record = _record(line)
            if record is None:
                raise files.CorruptFileError(
                    f"{self.path} line {number} is not a metrics record (a JSON object with an integer step); "
                    "delete that line or the run directory"
                )
            records.append(record)
        if torn and _record(torn) is not None:
            records.append(_record(torn))
        return records

    def truncate_after(self, step: int) -> None:
        """Drop lines logged after ``step`` (written by a run killed before its next checkpoint).

        The file is rewritten only when that changes it (a torn last line is dropped too)."""
        kept = "".join(json.dumps(record) + "\n" for record in self.read() if record["step"] <= step)
        if kept.encode() != (self.path.read_bytes() if self.path.exists() else b""):
            files.write_text(kept, self.path)


def _record(line: bytes) -> dict[str, Any] | None:
    try:
        record = json.loads(line.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    if not isinstance(record, dict) or type(record.get("step")) is not int:
        return None
    return record
