"""A run directory read back for selection: its evaluations, its stored views and its kept candidates.

What a run leaves for selectors (docs/run-directory.md):

- ``metrics.jsonl``: one record per evaluation (``step``, accuracies — the target one reported only —,
  ``selectors``: the scores logged at that evaluation, ``target_acc_estimate``, ``collapsed``);
- ``views/step-NNNNNNN.pt``: ``{"step": N, "logits": {view name: rows × classes float32}}``, the
  logits of the named views (:mod:`dann_core.selection.views`) at every evaluation;
- ``candidates/step-NNNNNNN.pt``: the weights of the kept steps (the last, and the ``keep_candidates``
  best of each scored selector; every step with ``--set keep_candidates=1000``).

:class:`StoredRun` is the public reader: ``view_candidate(step)`` rebuilds a candidate of any
evaluated step from its views (its logits only: asking for features raises ViewUnavailable), and
``kept_candidate(step)`` one with weights (loaded into the run's method when it is first forwarded,
so a set of kept candidates shares one model). Collapsed evaluations (``collapsed`` in their record)
are never candidates: :attr:`StoredRun.healthy_steps`.
"""
from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Any

from .. import checkpoint as ckpt
from ..metrics import MetricsLog
from ..selection import Candidate, SelectionData
from .candidates import CANDIDATE_DIR, candidate_files, candidate_name
from .views import VIEWS_DIR, KeptCandidate, read_views, view_files, write_views

class StoredRun:
    """A run directory's evaluations, views and kept candidates (``device``: where kept candidates run)."""

    def __init__(self, run_dir: str | Path, device: str = "cpu", registry=None) -> None:
        self.run_dir, self.device, self.registry = Path(run_dir), device, registry
        self._holder: dict[str, Any] = {}

    @cached_property
    def records(self) -> list[dict[str, Any]]:
        """The evaluation records of metrics.jsonl, in step order."""
        return MetricsLog(self.run_dir / "metrics.jsonl").read()

    @property
    def steps(self) -> list[int]:
        return [r["step"] for r in self.records]

    @property
    def healthy_steps(self) -> list[int]:
        """Evaluated steps not recorded as collapsed (a record without the key is healthy)."""
        return [r["step"] for r in self.records if not r.get("collapsed")]

    def record(self, step: int) -> dict[str, Any]:
        return next(r for r in self.records if r["step"] == step)

    @cached_property
    def run(self):
        """The rebuilt run (config, data, method) with its last checkpoint loaded: :func:`load_run`."""
        from .api import load_run

        return load_run(self.run_dir, "last", device=self.device, registry=self.registry)

    @property
    def config(self):
        return self.run.config

    @cached_property
    def data(self) -> SelectionData:
        """The label-free view of the run's data (target labels dropped)."""
        return SelectionData.of(self.run.data, self.run.config.seed)

    @cached_property
    def view_paths(self) -> dict[int, Path]:
        return view_files(self.run_dir)

    @property
    def view_steps(self) -> list[int]:
        """Evaluated steps whose views are stored."""
        return sorted(self.view_paths)

    def view_candidate(self, step: int) -> Candidate:
        """The candidate of an evaluated step rebuilt from its stored views (logits only)."""
        if step not in self.view_paths:
            raise ValueError(f"{self.run_dir / VIEWS_DIR / candidate_name(step)}: no stored views of step {step}")
        return Candidate.from_views(step, self.data, read_views(self.view_paths[step]), self.config)

    def view_candidates(self, steps=None) -> list[Candidate]:
        """Candidates of ``steps`` (default: every healthy evaluated step) from their stored views."""
        return [self.view_candidate(step) for step in (self.healthy_steps if steps is None else steps)]

    def has_views(self, steps=None) -> bool:
        """Whether the views of ``steps`` (default: every healthy evaluated step) are all stored."""
        wanted = self.healthy_steps if steps is None else steps
        return bool(wanted) and all(step in self.view_paths for step in wanted)

    @property
    def kept_paths(self) -> dict[int, Path]:
        directory = self.run_dir / CANDIDATE_DIR
        return {int(p.stem.split("-")[1]): p for p in candidate_files(directory)} if directory.is_dir() else {}

    @property
    def kept_steps(self) -> list[int]:
        """Steps whose weights are kept (collapsed ones excluded)."""
        healthy = set(self.healthy_steps)
        return [step for step in sorted(self.kept_paths) if step in healthy]

    def kept_candidate(self, step: int) -> Candidate:
        """The kept checkpoint of ``step`` as a candidate with weights."""
        path = self.kept_paths.get(step)
        if path is None:
            raise ValueError(f"{self.run_dir / CANDIDATE_DIR / candidate_name(step)}: no such kept candidate; "
                             "a run keeps the last step and the keep_candidates best of each scored selector")
        return KeptCandidate(step, lambda: ckpt.load(path, map_location=self.device), self.run.method, self.data, self.device,
                             self.config, self.registry, self._holder)

    def kept_candidates(self, steps=None) -> list[Candidate]:
        return [self.kept_candidate(step) for step in (self.kept_steps if steps is None else steps)]

    def target_accuracy(self, step: int) -> float | None:
        """Target test accuracy of an evaluated step: reported only, never used to choose."""
        return next((r.get("target_test_acc") for r in self.records if r["step"] == step), None)


__all__ = ["KeptCandidate", "StoredRun", "VIEWS_DIR", "read_views", "view_files", "write_views"]
