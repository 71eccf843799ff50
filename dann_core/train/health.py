"""Recognising a collapsed run: the network gave up the source task after it had learned it.

A domain-adversarial game can tip over: the label loss jumps (2.8 → 7.0 on an MNIST → MNIST-M-like
task at lr 0.03), then sits at log K for the rest of the run while the domain loss sits at log 2; the
network predicts one class for every input and source-val accuracy falls to chance (0.0775). Nothing
is non-finite, so the divergence guard does not fire, and the selector ``last`` would report the dead
network. :func:`assess` recognises that state at an evaluation from what the evaluation measured
anyway (no extra forward pass):

    collapsed  ⇔  the run had learned:   an earlier source-val accuracy ≥ chance + LEARNED·(1 − chance)
               ∧  it is back at chance:  source-val accuracy ≤ chance + NEAR_CHANCE·(1 − chance)
               ∧  it is degenerate:      ≥ CONSTANT of the source-val rows get the same predicted class,
                                         or the mean label loss since the last evaluation ≥ LOSS_AT_CHANCE·log K

``chance`` is what a constant prediction scores on source_val (the largest class's share, at least
1/K). The first clause keeps the rule silent on a run still learning at its start (nothing learned
yet), the third on a run whose source-val accuracy is merely poor. After a collapsed evaluation the
next ones stay collapsed until the run has recovered, source-val accuracy back at the learned level:

    still collapsed  ⇔  the previous evaluation was collapsed
                     ∧  source-val accuracy < chance + LEARNED·(1 − chance)

(a digits-blend DANN run at 0.96 source val collapsed to 0.17 at one evaluation and sat at 0.29,
label loss 1.85, at the next: neither at chance nor degenerate, and ``last`` reported target 0.20
where step 1300 had 0.82). A run that recovers has healthy evaluations again (``collapsed`` is
recorded per evaluation in metrics.jsonl). Source labels only: no target label is read.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterable

import torch

LEARNED = 0.5
"""Fraction of the way from chance to perfect that an earlier source-val accuracy must have reached
(10 classes: 0.55; two classes: 0.75)."""
NEAR_CHANCE = 0.2
"""Fraction of the way from chance to perfect within which source-val accuracy counts as chance level
(10 classes: ≤ 0.28; two classes: ≤ 0.60)."""
CONSTANT = 0.8
"""Share of the source-val rows predicted as one class that counts as (nearly) constant predictions."""
LOSS_AT_CHANCE = 0.9
"""A mean label loss at least this fraction of log K: the classifier is no better than uniform."""


@dataclass(frozen=True)
class Verdict:
    """What :func:`assess` found at one evaluation: ``collapsed`` and, when so, ``reason`` (words)."""

    collapsed: bool
    reason: str = ""


def chance_level(labels: torch.Tensor | None, num_classes: int) -> float:
    """Accuracy of the best constant prediction on a split with these labels (at least 1/K)."""
    floor = 1.0 / max(1, int(num_classes))
    if labels is None or len(labels) == 0:
        return floor
    counts = torch.bincount(labels.long().flatten(), minlength=int(num_classes))
    return max(floor, float(counts.max()) / len(labels))


def top_class_share(logits: torch.Tensor) -> float | None:
    """Share of rows whose arg-max is the most frequent arg-max (1.0: one class for every row)."""
    if logits is None or len(logits) == 0:
        return None
    return float(torch.bincount(logits.argmax(dim=1)).max()) / len(logits)


def assess(record: dict[str, Any], earlier: Iterable[dict[str, Any]], chance: float, num_classes: int) -> Verdict:
    """Whether the evaluation ``record`` (source_val_acc, top_class_share, label_loss) is a collapse,
    given the ``earlier`` evaluations of the same run (each with its source_val_acc)."""
    accuracy = record.get("source_val_acc")
    if accuracy is None:
        return Verdict(False)  # no source labels to judge by
    span = max(1e-12, 1.0 - chance)
    earlier = list(earlier)
    if earlier and earlier[-1].get("collapsed") and accuracy < chance + LEARNED * span:
        return Verdict(True, f"not recovered from the collapse: source val acc {accuracy:.3f} below the learned level "
                             f"{chance + LEARNED * span:.3f}")
    peak = max((h["source_val_acc"] for h in earlier if h.get("source_val_acc") is not None and not h.get("collapsed")), default=None)
    if peak is None or peak < chance + LEARNED * span or accuracy > chance + NEAR_CHANCE * span:
        return Verdict(False)
    share, loss = record.get("top_class_share"), record.get("label_loss")
    at_chance_loss = LOSS_AT_CHANCE * math.log(max(2, int(num_classes)))
    signs = []
    if share is not None and share >= CONSTANT:
        signs.append(f"{share:.0%} of source-val rows predicted as one class")
    if loss is not None and math.isfinite(loss) and loss >= at_chance_loss:
        signs.append(f"label loss {loss:.3f} (log {num_classes} = {math.log(max(2, int(num_classes))):.3f})")
    if not signs:
        return Verdict(False)
    return Verdict(True, f"source val acc {accuracy:.3f} at chance {chance:.3f} after {peak:.3f}; " + ", ".join(signs))


def collapse_start(history: list[dict[str, Any]]) -> int | None:
    """The step at which the collapse the run ends in began (None when its last evaluation is healthy)."""
    if not history or not history[-1].get("collapsed"):
        return None
    start = history[-1]["step"]
    for entry in reversed(history):
        if not entry.get("collapsed"):
            break
        start = entry["step"]
    return start


def collapse_line(step: int, reason: str, best_step: int | None) -> str:
    """The one line a run that ended collapsed prints (summary.json's ``warning``)."""
    kept = f"best.pt is step {best_step}, the selector's choice among the healthy evaluations" if best_step is not None else "no healthy evaluation was kept"
    return (f"collapsed at step {step}: {reason}; {kept}; try batch norm in the backbone (lenet, mlp: --set backbone.norm=domain), "
            "a lower --lr (the paper's 0.01) or a smaller λ (docs/methods.md#collapse)")
