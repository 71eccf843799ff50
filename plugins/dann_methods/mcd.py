"""``mcd``: Maximum Classifier Discrepancy (Saito, Watanabe, Ushiku & Harada, "Maximum Classifier
Discrepancy for Unsupervised Domain Adaptation", CVPR 2018).

Two label classifiers F1, F2 (the run's classifier and a freshly initialised copy) on one feature
generator G. With the discrepancy d(p1, p2) = mean_i (1/C) Σ_c |p1_ic − p2_ic| of their softmax
outputs on target rows, every training step is three updates:

    A. G, F1, F2 minimise CE(F1(G(x_s)), y_s) + CE(F2(G(x_s)), y_s);
    B. F1, F2 (G fixed) minimise the same CE − trade-off · d(F1(G(x_t)), F2(G(x_t)));
    C. G (F1, F2 fixed) minimises trade-off · d(F1(G(x_t)), F2(G(x_t))), ``generator_steps`` times.

Paper defaults: n = 4 generator updates (its digits experiments), trade-off 1. The paper trains with
Adam; here the run's SGD, one optimiser for G and one for F1 and F2. Predictions are F1's.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from dann_core.methods import SOURCE, TARGET, Method, MethodContext, Batch, accuracy

from .mdd import fresh_copy


def discrepancy(logits_1: torch.Tensor, logits_2: torch.Tensor) -> torch.Tensor:
    """mean |softmax(logits_1) − softmax(logits_2)| over rows and classes."""
    return (F.softmax(logits_1, dim=1) - F.softmax(logits_2, dim=1)).abs().mean()


class MCD(Method):
    """MCD: two classifiers maximise their disagreement on target, the features minimise it.

    Options:
      generator_steps: updates of the generator per step (step C; the paper: 4).
      weight: trade-off of the discrepancy (the paper: 1).
    """

    needs = frozenset({SOURCE, TARGET})
    summary_metrics, progress_metrics = ("label_loss", "discrepancy"), {"label_loss": "loss", "discrepancy": "disc"}

    def __init__(self, context: MethodContext, generator_steps: int = 4, weight: float = 1.0) -> None:
        super().__init__(context)
        if generator_steps < 1 or weight < 0:
            raise ValueError(f"bad mcd options generator_steps={generator_steps!r} weight={weight!r}: use steps ≥ 1 and weight ≥ 0 (the paper: 4, 1)")
        self.generator_steps, self.weight = int(generator_steps), float(weight)
        self.second_classifier = fresh_copy(context.classifier)

    def configure_optimizers(self):
        classifiers = [*self.model.classifier.parameters(), *self.second_classifier.parameters()]
        return {"generator": self.sgd(self.model.backbone.parameters()), "classifiers": self.sgd(classifiers)}

    def source_loss(self, features: torch.Tensor, y: torch.Tensor):
        logits = self.model.classifier(features)
        return F.cross_entropy(logits, y) + F.cross_entropy(self.second_classifier(features), y), logits

    def target_discrepancy(self, features: torch.Tensor) -> torch.Tensor:
        return discrepancy(self.model.classifier(features), self.second_classifier(features))

    def update(self, batch: Batch, engine):
        backbone, n = self.model.backbone, batch.source_x.shape[0]
        with engine.autocast():  # A: both classifiers and the generator learn the source task
            label_loss, logits = self.source_loss(backbone(batch.source_x), batch.source_y)
        engine.minimize(label_loss, ["generator", "classifiers"])
        with engine.autocast():  # B: the classifiers disagree on target, still right on source
            with torch.no_grad():
                features = backbone(torch.cat([batch.source_x, batch.target_x]))
            source_loss, _ = self.source_loss(features[:n], batch.source_y)
            disagreement = self.target_discrepancy(features[n:])
        engine.minimize(source_loss - self.weight * disagreement, "classifiers")
        for _ in range(self.generator_steps):  # C: the generator makes them agree
            with engine.autocast():
                generator_loss = self.weight * self.target_discrepancy(backbone(batch.target_x))
            engine.minimize(generator_loss, "generator")
        return {"label_loss": label_loss.detach(), "train_acc": accuracy(logits, batch.source_y),
                "discrepancy": disagreement.detach(), "generator_discrepancy": generator_loss.detach()}
