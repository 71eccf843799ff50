"""``atc``: the checkpoint with the highest estimated target accuracy.

The score is the label-free estimate of target accuracy every evaluation reports
(:func:`dann_core.selection.estimate_target_accuracy`: ATC with negative entropy by default, Garg et
al., ICLR 2022), so the choice and the reported estimate agree by construction. It reads the stored
views' logits only (every evaluated step is scored from them) and, being an accuracy estimate,
compares across runs.
"""
from __future__ import annotations

from dann_core.selection import ESTIMATORS, Candidate, Selector, estimate_target_accuracy


class EstimatedAccuracy(Selector):
    """Estimated target accuracy (no target label); higher is better.

    Options:
      estimator: atc-ne (default), atc-mc, doc, ac, or one of them with -ts (temperature-scaled first).
    """

    # a literal (dann_core.selection.estimate.DEFAULT_ESTIMATOR): `dann plugins` reads defaults from the
    # source, and following the name would import dann_core.selection, hence torch
    def __init__(self, estimator: str = "atc-ne") -> None:
        if estimator not in ESTIMATORS:
            raise ValueError(f"atc selector: unknown estimator {estimator!r}; choose from {', '.join(ESTIMATORS)}")
        self.estimator = estimator

    def score(self, candidate: Candidate) -> float | None:
        return estimate_target_accuracy(candidate, self.estimator)
