"""``bnm``: Batch Nuclear-norm Maximization as a validator (Cui et al., CVPR 2020; scored as a
validator by Musgrave, Belongie & Lim, "Benchmarking Validation Methods for Unsupervised Domain
Adaptation", 2022, whose strongest new criteria it and ClassAMI were).

With P the N × K matrix of target softmax predictions,

    BNM = ‖P‖_* / N          (the nuclear norm: the sum of P's singular values; higher is better)

It is large when predictions are both confident (discriminable) and spread over the classes
(diverse). ``source=true`` adds the same term of the source-val predictions (Musgrave et al.'s
"source + target" variant). It reads the views' logits only: every evaluated step is scored from the
stored views.
"""
from __future__ import annotations

import torch

from dann_core.selection import Candidate, Selector


def nuclear_norm_per_row(logits: torch.Tensor) -> float:
    """‖softmax(logits)‖_* / N (float64)."""
    probs = logits.double().softmax(dim=1)
    return float(torch.linalg.matrix_norm(probs, ord="nuc")) / len(probs)


class BNM(Selector):
    """Nuclear norm of the target prediction matrix over its rows; higher is better.

    Options:
      source: add the same term of the source-val predictions.
    """

    def __init__(self, source: bool = False) -> None:
        self.source = bool(source)

    def score(self, candidate: Candidate) -> float | None:
        target = candidate.view_logits("target")
        if len(target) == 0:
            return None
        score = nuclear_norm_per_row(target)
        if self.source and len(candidate.data.source_val) > 0:
            score += nuclear_norm_per_row(candidate.view_logits("source_val"))
        return score
