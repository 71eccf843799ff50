"""EnsV as a third party would write it: a set-level selector in one small module of public API.

Each candidate of a set (the evaluated steps of a run, or the runs of a sweep) is scored by how often
its target predictions agree with those of the ensemble of the whole set (Hu et al., NeurIPS 2024).
It reads only the ``target`` view's logits, which a run stores at every evaluation, so it scores
every evaluated step: ``dann run --select ensv-test``, ``dann eval select RUN_DIR``.
"""
from __future__ import annotations

import torch

from dann_core import hookimpl
from dann_core.selection import Selector
from dann_core.specs import ComponentSpec


class EnsembleValidation(Selector):
    """Agreement with the ensemble's target predictions; higher is better."""

    set_level = True   # a score depends on the other candidates: implement score_all
    per_eval = False   # so it scores when the set is complete (the run's end, a sweep's end)

    def score_all(self, candidates):
        probs = [c.view_logits("target").softmax(dim=1) for c in candidates]
        if not probs:
            return []
        ensemble = torch.stack(probs).mean(dim=0).argmax(dim=1)
        return [float((p.argmax(dim=1) == ensemble).float().mean()) for p in probs]


@hookimpl
def register_selectors():
    return [ComponentSpec.from_factory("ensv-test", EnsembleValidation)]
