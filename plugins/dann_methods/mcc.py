"""``mcc``: Minimum Class Confusion (Jin, Wang, Long & Wang, "Minimum Class Confusion for Versatile
Domain Adaptation", ECCV 2020), as a method (source cross-entropy + MCC) and as the regulariser
``plus=mcc`` of any adversarial method (CDAN+MCC, DANN+MCC).

On target predictions softened by a temperature T, p = softmax(z / T) (N × C), each row is weighted by
w_i = N (1 + e^(−H(p_i))) / Σ_j (1 + e^(−H(p_j))) (confident rows count more; H is detached), the
class confusion is C = pᵀ diag(w) p, normalised per category (C_jk / Σ_k' C_jk'), and the loss is
the confusion between different classes, (Σ_jk C_jk − Σ_j C_jj) / C. Paper defaults: T = 2.5,
trade-off μ = 1.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from dann_core.methods import SOURCE, TARGET, Method, MethodContext, Batch, Step, accuracy


def class_confusion_loss(logits: torch.Tensor, temperature: float = 2.5, reweight: bool = True) -> torch.Tensor:
    """MCC loss of target logits (N, C): the category-normalised cross-class confusion, divided by C."""
    n, classes = logits.shape
    probs = F.softmax(logits / temperature, dim=1)
    if reweight:
        entropy = -(probs * probs.clamp_min(1e-12).log()).sum(dim=1).detach()
        weight = 1.0 + torch.exp(-entropy)
        weight = n * weight / weight.sum()
    else:
        weight = torch.ones(n, dtype=probs.dtype, device=probs.device)
    confusion = (probs * weight.unsqueeze(1)).t() @ probs
    confusion = confusion / confusion.sum(dim=1, keepdim=True)
    return (confusion.sum() - confusion.trace()) / classes


class ClassConfusion:
    """The MCC regulariser: ``weight`` × MCC loss of the target logits.

    Options:
      temperature: T of the softened predictions (the paper: 2.5).
      weight: trade-off μ (the paper: 1).
      reweight: weight rows by 1 + e^(−H) (the paper's uncertainty reweighting).
    """

    def __init__(self, temperature: float = 2.5, weight: float = 1.0, reweight: bool = True) -> None:
        if not temperature > 0:
            raise ValueError(f"bad mcc temperature {temperature!r}: use a number > 0 (the paper: 2.5)")
        if weight < 0:
            raise ValueError(f"bad mcc weight {weight!r}: use a number ≥ 0 (the paper: 1)")
        self.temperature, self.weight, self.reweight = float(temperature), float(weight), bool(reweight)

    def __call__(self, step: Step):
        loss = class_confusion_loss(step.target_logits(), self.temperature, self.reweight)
        return self.weight * loss, {"mcc_loss": loss.detach()}


class MCC(Method):
    """MCC: cross-entropy on source plus μ × the class confusion of the target predictions.

    Options:
      temperature: T of the softened predictions (the paper: 2.5).
      weight: trade-off μ (the paper: 1).
      reweight: weight rows by 1 + e^(−H) (the paper's uncertainty reweighting).
    """

    needs = frozenset({SOURCE, TARGET})
    summary_metrics, progress_metrics = ("label_loss", "mcc_loss"), {"label_loss": "loss", "mcc_loss": "mcc"}

    def __init__(self, context: MethodContext, temperature: float = 2.5, weight: float = 1.0, reweight: bool = True) -> None:
        super().__init__(context)
        self.confusion = ClassConfusion(temperature, weight, reweight)

    def objective(self, batch: Batch):
        step = Step.forward(self, batch)
        label_loss = F.cross_entropy(step.source_logits, batch.source_y)
        extra, metrics = self.confusion(step)
        metrics.update(label_loss=label_loss.detach(), train_acc=accuracy(step.source_logits, batch.source_y))
        return label_loss + extra, metrics
