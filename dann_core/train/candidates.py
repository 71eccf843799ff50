"""The candidate checkpoints of a run and the choice of ``best.pt`` among them.

At every evaluation the trainer scores the current weights with every per-evaluation selector
(scores go to metrics.jsonl) and offers them to :class:`CandidatePool`, which keeps a bounded set:
the last evaluated step and the ``keep`` best steps of each per-evaluation selector. Kept weights
live in ``RUN_DIR/candidates/step-NNNNNNN.pt`` (in memory for runs without a directory). Selectors
that are not per-evaluation (reverse validation) score the kept candidates once, when the run ends.

An evaluation recorded as ``collapsed`` (:mod:`.health`) is never kept and never chosen: "the last"
is then the last healthy evaluation, and every selector ranks the healthy ones only.
"""
from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any, Callable

from .. import checkpoint as ckpt
from .. import files
from ..selection import Candidate, Selector, choose, top_steps

CANDIDATE_DIR = "candidates"


def candidate_name(step: int) -> str:
    return f"step-{step:07d}.pt"


class CandidatePool:
    """History of selector scores per evaluated step, and the kept candidates' weights."""

    def __init__(self, selectors: dict[str, Selector], chosen: str, keep: int, run_dir: Path | None) -> None:
        self.selectors, self.chosen, self.keep = selectors, chosen, keep
        self.directory = run_dir / CANDIDATE_DIR if run_dir is not None else None
        self.run_dir = run_dir
        self.history: list[dict[str, Any]] = []
        self.in_memory: dict[int, dict[str, Any]] = {}
        self.keep_all = False  # every healthy step (a set-level selector chooses among them when the run ends)

    @property
    def per_eval(self) -> dict[str, Selector]:
        return {name: s for name, s in self.selectors.items() if s.per_eval}

    def score(self, candidate: Candidate) -> dict[str, float | None]:
        """Scores of every per-evaluation selector for the current weights."""
        return {name: _number(selector.score(candidate)) for name, selector in self.per_eval.items()}

    def add(self, step: int, scores: dict[str, float | None], reported: dict[str, Any], state: Callable[[], dict]) -> None:
        """Record an evaluation; store its weights if kept, drop candidates no longer kept."""
        self.history.append({"step": step, "scores": scores, **reported})
        kept = self.kept_steps()
        if step in kept:
            if self.directory is None:
                self.in_memory[step] = copy.deepcopy(state())
            else:
                path = files.refuse_links(self.directory / candidate_name(step), self.run_dir)  # no link in the way
                self.directory.mkdir(exist_ok=True)
                ckpt.atomic_save(state(), path)
        self.prune(kept)

    def healthy(self) -> list[dict[str, Any]]:
        """The evaluations not recorded as collapsed (the only ones kept or chosen), in step order."""
        return [h for h in self.history if not h.get("collapsed")]

    def last_healthy(self) -> int | None:
        healthy = self.healthy()
        return healthy[-1]["step"] if healthy else None

    def kept_steps(self) -> set[int]:
        healthy = self.healthy()
        if not healthy:
            return set()
        if self.keep_all:
            return {h["step"] for h in healthy}
        kept = {healthy[-1]["step"]}
        for name, selector in self.per_eval.items():
            kept |= top_steps(healthy, name, selector, self.keep)
        return kept

    def prune(self, kept: set[int]) -> None:
        for step in [s for s in self.in_memory if s not in kept]:
            del self.in_memory[step]
        if self.directory is not None and files.refuse_links(self.directory, self.run_dir).exists():
            for path in candidate_files(self.directory):
                if _step_of(path) not in kept:
                    path.unlink(missing_ok=True)
            for leftover in self.directory.glob(".step-*.tmp"):  # a write killed half-way
                leftover.unlink(missing_ok=True)

    def stored(self) -> dict[int, Callable[[], dict]]:
        """step → loader of the kept candidate's state."""
        if self.directory is None:
            return {step: (lambda s=step: self.in_memory[s]) for step in sorted(self.in_memory)}
        paths = candidate_files(self.directory) if self.directory.exists() else []
        return {_step_of(p): (lambda p=p: ckpt.load(p)) for p in paths}

    def best_logged(self, name: str) -> int | None:
        """The step a per-evaluation selector chooses among the evaluated steps that did not collapse."""
        return choose(((h["step"], h["scores"].get(name)) for h in self.healthy()), self.selectors[name])

    def entry(self, step: int) -> dict[str, Any]:
        return next(h for h in self.history if h["step"] == step)

    def state_dict(self) -> dict[str, Any]:
        return {"history": copy.deepcopy(self.history)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.history = copy.deepcopy(state["history"])


_CANDIDATE = re.compile(r"step-(\d+)\.pt")


def candidate_files(directory: Path) -> list[Path]:
    """The candidates in ``directory``, sorted; files not named as :func:`candidate_name` names
    them (``step-abc.pt``, a user's copy) are not dann's: never read, never deleted."""
    return sorted(p for p in directory.glob("step-*.pt") if _CANDIDATE.fullmatch(p.name))


def _step_of(path: Path) -> int:
    return int(path.stem.split("-")[1])


def _number(value) -> float | None:
    return None if value is None else float(value)
