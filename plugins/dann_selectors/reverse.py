"""``reverse-val``: the paper's reverse validation (JMLR 2016 §5.1.2), per candidate checkpoint."""
from __future__ import annotations

from dann_core.selection import Candidate, Selector


class ReverseValidation(Selector):
    """Pseudo-label the target with the candidate, train the run's config back from target to source,
    and score the reverse model's error on the held-out source (lower is better). It trains a model
    per candidate, so it scores the stored candidates once, at the end of a run.

    Options:
      steps: training steps of each reverse model (0: the run's own number of steps).
    """

    higher_is_better = False
    per_eval = False

    def __init__(self, steps: int = 500) -> None:
        if steps < 0:
            raise ValueError(f"reverse-val selector: steps must be ≥ 0 (0: the run's), got {steps}")
        self.steps = steps

    def score(self, candidate: Candidate) -> float | None:
        from .reverse_validation import reverse_risk

        if candidate.data.source_val.y is None or len(candidate.data.source_val) == 0:
            return None
        return reverse_risk(candidate, self.steps)
