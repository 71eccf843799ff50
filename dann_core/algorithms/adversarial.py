"""Public building blocks of domain-adversarial methods: DANN's step in pieces a plugin can reuse.

:class:`DomainAdversarial` is DANN (Ganin & Lempitsky, ICML 2015; Ganin et al., JMLR 2016) written so
that a variant overrides one piece: source and target go through the backbone as one batch;
:func:`dann_core.ops.split_reverse` hands the source rows to the label classifier unchanged and every
row to the discriminator through a gradient reversal scaled by λ (the paper's ramp
λp = 2/(1+exp(−γp))−1, or a constant). "DANN + my regulariser" is::

    class Mine(DomainAdversarial):
        def objective(self, batch):
            step = self.forward_step(batch)
            loss, metrics = self.dann_loss(step)
            extra = my_regulariser(step.target_logits())
            return loss + 0.1 * extra, {**metrics, "mine": extra.detach()}

With several source domains the discriminator is K-way (sources 0..K-2, target K-1).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .. import ops, schedules
from ..nn import DomainAdversarialOutput, domain_classification_loss
from .base import SOURCE, TARGET, Algorithm, AlgorithmContext, Batch, accuracy


@dataclass
class AdversarialStep:
    """One forward pass of a domain-adversarial step.

    ``features``: backbone features of the source rows then the target rows; ``reversed``: the same
    features behind the gradient reversal (what the discriminator sees); ``source_logits``: the label
    classifier on the source rows; ``domains``: ``n_source`` (two domains) or per-row domain labels.
    """

    method: "DomainAdversarial"
    batch: Batch
    features: torch.Tensor
    reversed: torch.Tensor
    source_logits: torch.Tensor
    domains: int | torch.Tensor
    lambd: float
    _target_logits: torch.Tensor | None = field(default=None, repr=False)

    @property
    def n_source(self) -> int:
        return self.source_logits.shape[0]

    @property
    def source_features(self) -> torch.Tensor:
        return self.features[: self.n_source]

    @property
    def target_features(self) -> torch.Tensor:
        return self.features[self.n_source :]

    def target_logits(self) -> torch.Tensor:
        """The label classifier on the target rows (computed once, with gradients)."""
        if self._target_logits is None:
            self._target_logits = self.method.model.classifier(self.target_features)
        return self._target_logits


class DomainAdversarial(Algorithm):
    """DANN: label loss on source plus the reversed-gradient domain loss on source and target.

    Subclasses override :meth:`build_discriminator` (what the discriminator sees, e.g. CDAN's
    multilinear map) and :meth:`domain_loss`, or extend :meth:`objective` with extra terms.

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
        self.register_buffer("lambd", torch.zeros(()))  # λ as a tensor the ops read: changing it never recompiles
        self.model.discriminator = self.build_discriminator(context)

    def build_discriminator(self, context: AlgorithmContext) -> nn.Module:
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

    def forward_step(self, batch: Batch) -> AdversarialStep:
        """Backbone on source + target, label classifier on source, features reversed for the discriminator."""
        lambd = self.current_lambda()
        self.lambd.fill_(lambd)
        n_source = batch.source_x.shape[0]
        features = self.model.backbone(torch.cat([batch.source_x, batch.target_x]))
        label_features, reversed_features = ops.split_reverse(features, n_source, self.lambd)
        logits = self.model.classifier(label_features)
        return AdversarialStep(self, batch, features, reversed_features, logits, self.domain_labels(batch), lambd)

    def domain_loss(self, step: AdversarialStep) -> DomainAdversarialOutput:
        """The discriminator's loss on the gradient-reversed features of every row."""
        return domain_classification_loss(self.model.discriminator(step.reversed), step.domains)

    def dann_loss(self, step: AdversarialStep) -> tuple[torch.Tensor, dict[str, Any]]:
        """Label loss + domain loss of ``step`` and the usual metrics."""
        label_loss = F.cross_entropy(step.source_logits, step.batch.source_y)
        domain = self.domain_loss(step)
        metrics = {
            "label_loss": label_loss.detach(),
            "train_acc": accuracy(step.source_logits, step.batch.source_y),
            "domain_loss": domain.loss.detach(),
            "domain_acc": domain.accuracy,
            "lambda": step.lambd,
        }
        return label_loss + domain.loss, metrics

    def objective(self, batch: Batch):
        return self.dann_loss(self.forward_step(batch))
