"""``last`` and ``source-val``: the final step, and held-out source accuracy."""
from __future__ import annotations

from dann_core.selection import Candidate, Selector


class Last(Selector):
    """The final evaluated step (scores are steps; meaningless across runs)."""

    across_runs = False

    def __init__(self) -> None:
        pass

    def score(self, candidate: Candidate) -> float:
        return float(candidate.step)


class SourceVal(Selector):
    """Accuracy on held-out source validation data (picks early on DANN: the domains are not aligned yet)."""

    def __init__(self) -> None:
        pass

    def score(self, candidate: Candidate) -> float | None:
        val = candidate.data.source_val
        if val.y is None or len(val) == 0:
            return None
        return float((candidate.logits(val.x).argmax(1) == val.y).float().mean())
