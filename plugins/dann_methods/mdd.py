"""``mdd``: Margin Disparity Discrepancy (Zhang, Liu, Long & Jordan, "Bridging Theory and Algorithm for
Domain Adaptation", ICML 2019).

An auxiliary head h' (the label classifier's architecture, freshly initialised) reads the features
through a gradient reversal. With the main head's predictions ŷ = argmax h(f) (no gradient), h'
minimises and the features (through the reversal) maximise

    L_mdd = γ · CE(h'(f_s), ŷ_s) + mean_t −log(1 − softmax(h'(f_t))[ŷ_t]),

i.e. h' agrees with h on source and disagrees on target, estimating the discrepancy the features then
shrink. The loss is CE(h(f_s), y_s) + trade-off · L_mdd. Paper defaults: margin γ = 4, trade-off 1,
and a reversal factor warmed up to 0.1 (here: the DANN ramp 2/(1+e^(−γp)) − 1 times ``reversal_max``).
"""
from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from dann_core import schedules
from dann_core.methods import MethodContext, Batch, DomainAdversarial, accuracy


def margin_disparity_loss(source_logits, source_adv, target_logits, target_adv, margin: float = 4.0) -> torch.Tensor:
    """γ·CE(h'(s), argmax h(s)) + mean −log(1 − p'_t[argmax h(t)]) (the log clamped as in tllib)."""
    source_pred, target_pred = source_logits.detach().argmax(dim=1), target_logits.detach().argmax(dim=1)
    source_term = F.cross_entropy(source_adv, source_pred)
    agree = F.softmax(target_adv, dim=1).gather(1, target_pred.unsqueeze(1)).squeeze(1)
    target_term = -torch.log(torch.clamp(1.0 - agree + 1e-6, max=1.0)).mean()
    return margin * source_term + target_term


def fresh_copy(module: nn.Module) -> nn.Module:
    """``module``'s architecture with every submodule's parameters re-initialised (seeded RNG)."""
    twin = copy.deepcopy(module)
    for sub in twin.modules():
        if hasattr(sub, "reset_parameters"):
            sub.reset_parameters()
    return twin


class MDD(DomainAdversarial):
    """MDD: an adversarial auxiliary head estimates the margin disparity discrepancy the features shrink.

    Options (the reversal is not called ``lambda``, so a dataset's DANN λ, e.g. moons' 6, does not reach it):
      reversal: reversal factor: 'schedule' (the DANN ramp times reversal_max) or a number ≥ 0.
      reversal_max: scale of the scheduled reversal (the paper's warm start ends at 0.1).
      gamma: γ of the ramp.
      margin: γ of MDD (the paper: 4; 2-4 on its benchmarks).
      weight: trade-off of L_mdd (the paper: 1).
      plus: regularisers added (e.g. 'mcc').
    """

    summary_metrics, progress_metrics = ("label_loss", "mdd_loss"), {"label_loss": "loss", "mdd_loss": "mdd"}  # no domain classifier

    def __init__(self, context: MethodContext, reversal: str = "schedule", reversal_max: float = 0.1, gamma: float = 10.0,
                 margin: float = 4.0, weight: float = 1.0, plus: str = "", **regularizer_options) -> None:
        if not reversal_max >= 0 or not margin > 0 or not weight >= 0:
            raise ValueError(f"bad mdd options reversal_max={reversal_max!r} margin={margin!r} weight={weight!r}: "
                             "use reversal_max ≥ 0, margin > 0, weight ≥ 0 (the paper: 0.1, 4, 1)")
        self.reversal_max, self.margin, self.weight = float(reversal_max), float(margin), float(weight)
        super().__init__(context, lambda_=reversal, gamma=gamma, plus=plus, **regularizer_options)

    def build_discriminator(self, context: MethodContext) -> nn.Module:
        return fresh_copy(context.classifier)

    def current_lambda(self) -> float:
        if self.lambda_setting == "schedule":
            return self.reversal_max * schedules.dann_lambda(self.progress(), self.gamma)
        return float(self.lambda_setting)

    def domain_logits(self, features, class_logits):
        return None  # the auxiliary head predicts classes, not domains

    def objective(self, batch: Batch):
        step = self.forward_step(batch)
        n = step.n_source
        adv = self.model.discriminator(step.reversed)
        label_loss = F.cross_entropy(step.source_logits, batch.source_y)
        transfer = margin_disparity_loss(step.source_logits, adv[:n], step.target_logits(), adv[n:], self.margin)
        metrics = {"label_loss": label_loss.detach(), "train_acc": accuracy(step.source_logits, batch.source_y),
                   "mdd_loss": transfer.detach(), "lambda": step.lambd}
        return self.regularize(step, label_loss + self.weight * transfer, metrics)
