"""``ensv``: Ensemble-based Validation (Hu, Luo, Liang & Foo, "Simplifying and Stabilizing Model
Selection in Unsupervised Domain Adaptation", NeurIPS 2024 Datasets & Benchmarks).

The candidates of a set (the evaluated steps of a run, or the chosen checkpoints of a sweep's runs)
are averaged into an ensemble, p̄(x) = (1/M)·Σ_m softmax(f_m(x)), and each candidate m is scored by its
agreement with the ensemble's predictions on the target:

    EnsV(m) = (1/N)·Σ_x 1[argmax f_m(x) = argmax p̄(x)]          (higher is better)

The ensemble is rarely worse than its average member, so the candidate that agrees with it most is
rarely a bad one: the criterion is chosen for its worst case. It needs the whole set, so it is
set-level (``score_all``), reads only the ``target`` view's logits, and scores every evaluated step
of a run from its stored views.
"""
from __future__ import annotations

import torch

from dann_core.selection import Candidate, Selector


class EnsV(Selector):
    """Agreement of each candidate's target predictions with the ensemble of the set; higher is better."""

    set_level = True
    per_eval = False

    def __init__(self) -> None:
        pass

    def score_all(self, candidates: list[Candidate]) -> list[float | None]:
        if not candidates:
            return []
        probs = [candidate.view_logits("target").double().softmax(dim=1) for candidate in candidates]
        ensemble = torch.stack(probs).mean(dim=0).argmax(dim=1)
        return [float((p.argmax(dim=1) == ensemble).double().mean()) for p in probs]
