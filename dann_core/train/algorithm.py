"""One training step of DANN and its baselines, DomainBed style: ``update(batch) -> metrics``."""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .. import ops, schedules
from ..config import RunConfig
from ..nn import DomainAdversarialLoss


class NonFiniteLossError(FloatingPointError):
    """A loss became NaN or infinite; no parameter was updated with it."""

    def __init__(self, step: int, name: str, value: float) -> None:
        super().__init__(f"{name} is {value} at step {step}")
        self.step, self.name, self.value = step, name, value


@dataclass
class Batch:
    """One step's inputs.

    ``x``/``y``: the labelled batch (source for dann and source-only, target for target-oracle).
    ``x_target``: unlabelled target inputs (dann only). ``domains``: for K-way dann, the domain label
    of every row of ``cat([x, x_target])`` (sources 0..K-2, target K-1); None for binary dann.
    """

    x: torch.Tensor
    y: torch.Tensor
    x_target: torch.Tensor | None = None
    domains: torch.Tensor | None = None


class DANN(nn.Module):
    """The algorithm: a :class:`~dann_core.model.DANNModel`, its SGD optimiser and the step counter.

    λ and the learning rate are pure functions of ``p = step / config.steps``
    (:mod:`dann_core.schedules`); ``step`` is a buffer in the state dict, so a restored algorithm
    continues both schedules exactly. With ``config.method != "dann"`` the step is plain supervised
    training on the labelled batch and the discriminator is unused.
    """

    def __init__(self, model: nn.Module, config: RunConfig) -> None:
        super().__init__()
        self.model = model
        self.config = config
        self.domain_loss = DomainAdversarialLoss(model.discriminator, reverse_gradient=False)  # shares weights
        self.optimizer = torch.optim.SGD(
            model.parameters(), lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay
        )
        self.register_buffer("step", torch.zeros((), dtype=torch.long))
        self.register_buffer("lambd", torch.zeros(()))

    def schedule(self) -> tuple[float, float]:
        """(λ, learning rate) for the step about to be taken."""
        p = schedules.progress(int(self.step), self.config.steps)
        return schedules.lambda_at(p, self.config.lambda_, self.config.gamma), schedules.lr_at(
            p, self.config.lr, self.config.lr_schedule
        )

    def update(self, batch: Batch) -> dict[str, float]:
        """One SGD step; returns label_loss, train_acc, lambda, lr and, for dann, domain_loss/domain_acc.

        Raises :class:`NonFiniteLossError` (before touching any parameter) when a loss is NaN or inf.
        """
        lambd, lr = self.schedule()
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        self.lambd.fill_(lambd)
        if self.config.method == "dann":
            loss, metrics = self._adversarial_loss(batch)
        else:
            logits = self.model(batch.x)
            loss = F.cross_entropy(logits, batch.y)
            metrics = {"label_loss": loss.detach(), "train_acc": _accuracy(logits, batch.y)}
        values = {key: float(value) for key, value in metrics.items()}
        bad = next((key for key in ("label_loss", "domain_loss") if key in values and not math.isfinite(values[key])), None)
        if bad is not None:
            raise NonFiniteLossError(int(self.step), bad, values[bad])
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        self.step += 1
        return {**values, "lambda": lambd, "lr": lr}

    def _adversarial_loss(self, batch: Batch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        n_source = batch.x.shape[0]
        features = self.model.backbone(torch.cat([batch.x, batch.x_target]))
        label_features, domain_features = ops.split_reverse(features, n_source, self.lambd)
        logits = self.model.classifier(label_features)
        label_loss = F.cross_entropy(logits, batch.y)
        class_probs = self._class_probs(logits, features[n_source:]) if self.model.conditional else None
        domains = batch.domains if batch.domains is not None else n_source
        domain = self.domain_loss(domain_features, domains, class_probs=class_probs)
        metrics = {
            "label_loss": label_loss.detach(),
            "train_acc": _accuracy(logits, batch.y),
            "domain_loss": domain.loss.detach(),
            "domain_acc": domain.accuracy,
        }
        return label_loss + domain.loss, metrics

    @torch.no_grad()
    def _class_probs(self, source_logits: torch.Tensor, target_features: torch.Tensor) -> torch.Tensor:
        """Detached softmax class probabilities of every row, for conditional discriminators."""
        return torch.cat([source_logits, self.model.classifier(target_features)]).softmax(dim=1)

    @torch.no_grad()
    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits in eval mode (the module's train/eval mode is restored afterwards)."""
        was_training = self.model.training
        self.model.eval()
        try:
            return self.model.predict(x)
        finally:
            self.model.train(was_training)

    def training_state(self) -> dict:
        """Model weights, optimiser state and step counter, as saved in a checkpoint."""
        return {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(), "step": int(self.step)}

    def load_training_state(self, state: dict) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.step.fill_(state["step"])


def _accuracy(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    return (logits.detach().argmax(dim=1) == labels).float().mean()
