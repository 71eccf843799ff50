"""``dann``: Ganin & Lempitsky (ICML 2015), Ganin et al. (JMLR 2016).

Source and target go through the backbone as one batch; ``ops.split_reverse`` hands the source rows
to the label classifier unchanged and every row to the discriminator through a gradient reversal
scaled by λ (the paper's ramp λp = 2/(1+exp(−γp))−1, or a constant). With several source domains
the discriminator is K-way (sources 0..K-2, target K-1).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from dann_core import ops, schedules
from dann_core.algorithms import SOURCE, TARGET, Algorithm, AlgorithmContext, Batch
from dann_core.algorithms.base import accuracy
from dann_core.nn import domain_classification_loss


class DANN(Algorithm):
    """DANN: label loss on source plus the reversed-gradient domain loss on source and target.

    Options:
      lambda: GRL factor λ: 'schedule' (the paper's ramp 2/(1+exp(-γp))-1) or a number ≥ 0.
      gamma: γ of the λ schedule (10 in the paper).
    """

    needs = frozenset({SOURCE, TARGET})

    def __init__(self, context: AlgorithmContext, lambda_: str = "schedule", gamma: float = 10.0) -> None:
        super().__init__(context)
        self.lambda_setting = schedules.parse_lambda(lambda_)
        if not gamma > 0:
            raise ValueError(f"bad γ {gamma!r} for the λ schedule: use a number > 0 (the paper: 10)")
        self.gamma = float(gamma)
        self.register_buffer("lambd", torch.zeros(()))
        self.model.discriminator = self.build_discriminator(context)

    def build_discriminator(self, context: AlgorithmContext) -> torch.nn.Module:
        return context.make_discriminator(int(self.model.backbone.out_features))

    def current_lambda(self) -> float:
        return schedules.lambda_at(self.progress(), self.lambda_setting, self.gamma)

    def domain_labels(self, batch: Batch) -> int | torch.Tensor:
        """``n_source`` for two domains, else per-row labels (sources as given, target = K-1)."""
        n_source = batch.source_x.shape[0]
        if self.num_domains <= 2:
            return n_source
        target = torch.full((batch.target_x.shape[0],), self.num_domains - 1, dtype=torch.long, device=batch.target_x.device)
        return torch.cat([batch.source_domains.long(), target])

    def objective(self, batch: Batch):
        lambd = self.current_lambda()
        self.lambd.fill_(lambd)
        n_source = batch.source_x.shape[0]
        features = self.model.backbone(torch.cat([batch.source_x, batch.target_x]))
        label_features, domain_features = ops.split_reverse(features, n_source, self.lambd)
        logits = self.model.classifier(label_features)
        label_loss = F.cross_entropy(logits, batch.source_y)
        domain = self.domain_loss(domain_features, features, logits, self.domain_labels(batch))
        metrics = {
            "label_loss": label_loss.detach(),
            "train_acc": accuracy(logits, batch.source_y),
            "domain_loss": domain.loss.detach(),
            "domain_acc": domain.accuracy,
            "lambda": lambd,
        }
        return label_loss + domain.loss, metrics

    def domain_loss(self, reversed_features: torch.Tensor, features: torch.Tensor, source_logits: torch.Tensor, domains):
        """The discriminator's loss on the gradient-reversed features of every row."""
        return domain_classification_loss(self.model.discriminator(reversed_features), domains)
