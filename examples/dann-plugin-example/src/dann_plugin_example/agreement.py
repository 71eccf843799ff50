"""``agreement``: a set-level selector, each candidate scored by how much the rest of the set agrees with it.

With M candidates, p_m(x) = softmax of candidate m's logits on the stored ``target`` view (N rows,
C classes) and q_m(x) = (1/(M−1))·Σ_{k≠m} p_k(x), the mean prediction of the *other* candidates:

    agreement(m) = (1/N)·Σ_x Σ_c p_m(x)_c · q_m(x)_c          (higher is better; in [0, 1])

Σ_c p_m(x)_c·p_k(x)_c is the probability that a class drawn from m's prediction and one drawn from
k's are the same, so agreement(m) is the chance that m and a random other candidate of the set agree
on a random target row. A candidate out of line with the set (collapsed, or misaligned early in a
run) scores low. Unlike EnsV (``ensv``: hard votes against an ensemble that includes the candidate)
it is soft and leave-one-out, so a confident candidate cannot raise its own score by voting for
itself; but confident agreement still beats hesitant agreement.

It reads only the ``target`` view's logits, so it scores every evaluated step of a run from the
stored views, and the chosen checkpoints of a sweep's runs as one set. A set of one has nothing to
agree with: its score is None.
"""
from __future__ import annotations

from typing import Sequence

import torch

from dann_core.selection import Candidate, Selector


def agreement_scores(probabilities: Sequence[torch.Tensor]) -> list[float | None]:
    """agreement(m) for each (N, C) probability matrix of ``probabilities`` (one per candidate, same rows)."""
    if len(probabilities) < 2:
        return [None] * len(probabilities)
    probs = torch.stack([p.double() for p in probabilities])  # (M, N, C)
    others = (probs.sum(dim=0, keepdim=True) - probs) / (len(probabilities) - 1)  # q_m: the mean of the others
    return [float(score) for score in (probs * others).sum(dim=2).mean(dim=1)]


class Agreement(Selector):
    """Mean probability that a candidate's target prediction agrees with another candidate's of its set; higher is better."""

    set_level = True  # a score depends on the other candidates: score_all
    per_eval = False  # so it scores when the set is complete

    def score_all(self, candidates: Sequence[Candidate]) -> list[float | None]:
        return agreement_scores([candidate.view_logits("target").double().softmax(dim=1) for candidate in candidates])
