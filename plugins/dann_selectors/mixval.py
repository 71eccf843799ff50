"""``mixval``: Mixed samples as probes (Hu, Liang, Liew, Xue, Bai & Wang, NeurIPS 2023).

Target rows are mixed pairwise, x̃ᵢ = λ·xᵢ + (1 − λ)·x_{π(i)} with λ = 0.55 (the ``target_mix`` view:
π(i) is the next row of the target view), and each probe is labelled with the candidate's own
prediction ŷᵢ of its dominant row. The Interpolation Consistency Evaluation is the accuracy of the
candidate's predictions on the probes against those pseudo-labels, split by whether the pair's
pseudo-labels agree:

    ICE_intra = mean over {i : ŷᵢ = ŷ_{π(i)}} of 1[argmax f(x̃ᵢ) = ŷᵢ]
    ICE_inter = mean over {i : ŷᵢ ≠ ŷ_{π(i)}} of 1[argmax f(x̃ᵢ) = ŷᵢ]
    MixVal    = mean(ICE_intra, ICE_inter)                           (higher is better)

(an empty group is left out). The paper combines the two by averaging their ranks over the candidate
set; skada's ``MixValScorer`` (ice_type="both") and this selector average the two accuracies, so a
candidate's score does not depend on the others and compares across runs. It reads the ``target`` and
``target_mix`` views' logits only: every evaluated step is scored from the stored views.
"""
from __future__ import annotations

import math

from dann_core.selection import Candidate, Selector
from dann_core.selection.views import mix_partner

ICE = ("both", "intra", "inter")


class MixVal(Selector):
    """Consistency of predictions on mixed target pairs with the dominant row's pseudo-label; higher is better.

    Options:
      ice: both (the mean of the two), intra (pairs predicted alike) or inter (pairs predicted apart).
    """

    def __init__(self, ice: str = "both") -> None:
        if ice not in ICE:
            raise ValueError(f"mixval selector: ice must be one of {', '.join(ICE)}, got {ice!r}")
        self.ice = ice

    def score(self, candidate: Candidate) -> float | None:
        labels = candidate.view_logits("target").argmax(dim=1)
        if len(labels) == 0:
            return None
        agree = labels == labels[mix_partner(len(labels))]
        right = (candidate.view_logits("target_mix").argmax(dim=1) == labels).double()
        intra = float(right[agree].mean()) if bool(agree.any()) else math.nan
        inter = float(right[~agree].mean()) if bool((~agree).any()) else math.nan
        chosen = {"intra": [intra], "inter": [inter], "both": [intra, inter]}[self.ice]
        present = [value for value in chosen if not math.isnan(value)]
        return sum(present) / len(present) if present else None
