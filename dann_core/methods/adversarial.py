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
            return self.regularize(step, loss + 0.1 * extra, {**metrics, "mine": extra.detach()})

and a regulariser registered with :func:`.plus.register_regularizer` needs no class at all:
``--set method.plus=mine`` on any method registered through :func:`.plus.composable`.

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
from .base import SOURCE, TARGET, Method, MethodContext, Batch, accuracy
from .regularizers import Step, add_terms, build_regularizers


@dataclass
class AdversarialStep(Step):
    """One forward pass of a domain-adversarial step (a :class:`~.regularizers.Step` plus the adversarial part).

    ``features``: backbone features of the source rows then the target rows; ``reversed``: the same
    features behind the gradient reversal (what the discriminator sees); ``source_logits``: the label
    classifier on the source rows; ``domains``: ``n_source`` (two domains) or per-row domain labels.
    """

    reversed: torch.Tensor = field(kw_only=True)
    domains: int | torch.Tensor = field(kw_only=True)
    lambd: float = field(kw_only=True)


class DomainAdversarial(Method):
    """DANN: label loss on source plus the reversed-gradient domain loss on source and target.

    Subclasses override :meth:`build_discriminator` (what the discriminator sees, e.g. CDAN's
    multilinear map) and :meth:`domain_loss`, or extend :meth:`objective` with extra terms.

    Options:
      lambda: GRL factor λ: 'schedule' (the paper's ramp 2/(1+exp(-γp))-1) or a number ≥ 0.
      gamma: γ of the λ schedule (10 in the paper).
      plus: regularisers added to the loss, e.g. 'mcc,bsp' (see :mod:`.regularizers`); their options
        are NAME_OPTION (mcc_temperature) when the method is registered through ``composable``.
    """

    needs = frozenset({SOURCE, TARGET})
    summary_metrics, progress_metrics = ("label_loss", "domain_loss", "domain_acc"), {"label_loss": "loss", "domain_acc": "d_acc"}

    def __init__(self, context: MethodContext, lambda_: str = "schedule", gamma: float = 10.0, plus: str = "",
                 **regularizer_options: Any) -> None:
        super().__init__(context)
        self.regularizers = build_regularizers(plus, regularizer_options)
        # a regulariser's loss (named <regulariser>_loss by the contract) joins the run's summary
        self.summary_metrics = (*type(self).summary_metrics, *(f"{name}_loss" for name in self.regularizers))
        self.lambda_setting = schedules.parse_lambda(lambda_)
        if not gamma > 0:
            raise ValueError(f"bad γ {gamma!r} for the λ schedule: use a number > 0 (the paper: 10)")
        self.gamma = float(gamma)
        self.register_buffer("lambd", torch.zeros(()))  # λ as a tensor the ops read: changing it never recompiles
        self.model.discriminator = self.build_discriminator(context)

    def build_discriminator(self, context: MethodContext) -> nn.Module:
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
        return AdversarialStep(self, batch, features, logits, reversed=reversed_features, domains=self.domain_labels(batch), lambd=lambd)

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

    def regularize(self, step: Step, loss: torch.Tensor, metrics: dict[str, Any]) -> tuple[torch.Tensor, dict[str, Any]]:
        """``loss`` and ``metrics`` plus the terms of ``self.regularizers`` (those of ``plus``; a
        subclass may put its own first) on ``step``; an overridden :meth:`objective` ends with it."""
        return add_terms(self.regularizers, step, loss, metrics)

    def objective(self, batch: Batch):
        step = self.forward_step(batch)
        return self.regularize(step, *self.dann_loss(step))
