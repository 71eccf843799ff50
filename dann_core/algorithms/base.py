"""The base class of training methods, DomainBed style: ``update(batch) -> metrics`` and ``predict(x)``.

A method subclasses :class:`Algorithm`, declares the batches it needs each step in ``needs``, takes
its options as keyword arguments of ``__init__`` after ``context`` (declared once: the registry reads
them from the signature) and implements :meth:`Algorithm.objective`. The base owns what every
method shares: the SGD optimiser over all of the algorithm's parameters, the paper's learning-rate
annealing, the step counter (a buffer, so schedules resume exactly), the non-finite-loss guard,
prediction and the checkpoint state (the module's ``state_dict``: weights and buffers of everything
the method added, plus ``get_extra_state`` if it defines one).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, ClassVar

import torch
from torch import nn

from .. import schedules
from ..model import DANNModel

SOURCE = "source"
"""A labelled source batch: ``batch.source_x``, ``batch.source_y`` and, when the dataset has several
source domains, ``batch.source_domains`` (0..K-2 per row)."""
TARGET = "target"
"""An unlabelled target batch: ``batch.target_x`` (target labels never reach the algorithm)."""
TARGET_LABELLED = "target_labelled"
"""A labelled target batch: ``batch.labelled_target_x``, ``batch.labelled_target_y`` (oracles only;
reverse validation and label-free selection refuse such methods)."""
BATCH_KINDS = (SOURCE, TARGET, TARGET_LABELLED)


class NonFiniteLossError(FloatingPointError):
    """A loss became NaN or infinite; no parameter was updated with it."""

    def __init__(self, step: int, name: str, value: float) -> None:
        super().__init__(f"{name} is {value} at step {step}")
        self.step, self.name, self.value = step, name, value


@dataclass
class Batch:
    """One step's inputs; the fields of batch kinds the algorithm did not ask for are None."""

    source_x: torch.Tensor | None = None
    source_y: torch.Tensor | None = None
    source_domains: torch.Tensor | None = None
    target_x: torch.Tensor | None = None
    labelled_target_x: torch.Tensor | None = None
    labelled_target_y: torch.Tensor | None = None


@dataclass(frozen=True)
class OptimSettings:
    """The run's optimisation settings (shared by every method)."""

    steps: int
    lr: float
    lr_schedule: bool = True
    momentum: float = 0.9
    weight_decay: float = 0.0


@dataclass
class AlgorithmContext:
    """What the trainer hands an algorithm factory besides its options.

    ``backbone`` and ``classifier`` are built from the run's backbone plugin;
    ``make_discriminator(in_features)`` builds the run's discriminator plugin for features of that
    width with ``num_domains`` outputs' worth of domains (2: source vs target; K+1 for K sources).
    """

    backbone: nn.Module
    classifier: nn.Module
    make_discriminator: Callable[[int], nn.Module]
    num_classes: int
    num_domains: int
    optim: OptimSettings


class Algorithm(nn.Module):
    """A training method: a :class:`~dann_core.model.DANNModel` (``self.model``), its SGD optimiser
    and its step counter.

    Subclasses set ``needs`` (a subset of :data:`SOURCE`, :data:`TARGET`, :data:`TARGET_LABELLED`),
    build whatever else they need in ``__init__`` (a discriminator through
    ``context.make_discriminator``, stored as ``self.model.discriminator`` so evaluations find it)
    and implement :meth:`objective`. :meth:`update` returns metrics as tensors (no host sync) plus
    ``lr`` and, for adversarial methods, ``lambda`` as numbers computed on the host.
    """

    needs: ClassVar[frozenset[str]] = frozenset({SOURCE})

    def __init__(self, context: AlgorithmContext) -> None:
        super().__init__()
        unknown = set(self.needs) - set(BATCH_KINDS)
        if unknown:
            raise TypeError(f"{type(self).__name__}.needs has unknown batch kinds {sorted(unknown)}; use {', '.join(BATCH_KINDS)}")
        self.model = DANNModel(context.backbone, context.classifier, None)
        self.optim = context.optim
        self.num_domains = context.num_domains
        self.register_buffer("step", torch.zeros((), dtype=torch.long))
        self.steps_done = 0  # host copy of ``step``: reading the buffer would sync with a GPU
        self._optimizer: torch.optim.Optimizer | None = None

    @property
    def optimizer(self) -> torch.optim.Optimizer:
        """SGD over every parameter of the algorithm, created once the subclass has built its modules."""
        if self._optimizer is None:
            o = self.optim
            self._optimizer = torch.optim.SGD(self.parameters(), lr=o.lr, momentum=o.momentum, weight_decay=o.weight_decay)
        return self._optimizer

    @property
    def uses_target_labels(self) -> bool:
        return TARGET_LABELLED in self.needs

    def progress(self) -> float:
        """Training progress p in [0, 1] of the step about to be taken."""
        return schedules.progress(self.steps_done, self.optim.steps)

    def objective(self, batch: Batch) -> tuple[torch.Tensor, dict[str, Any]]:
        """The loss to minimise this step and its metrics (detached tensors or numbers)."""
        raise NotImplementedError(f"{type(self).__name__} must implement objective(batch)")

    def update(self, batch: Batch) -> dict[str, Any]:
        """One SGD step. Raises :class:`NonFiniteLossError` (before touching any parameter) on a NaN/inf loss."""
        lr = schedules.lr_at(self.progress(), self.optim.lr, self.optim.lr_schedule)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        loss, metrics = self.objective(batch)
        if not bool(torch.isfinite(loss.detach())):  # one read per step; names the culprit only when it fails
            bad = next((k for k, v in metrics.items() if k.endswith("loss") and not torch.isfinite(torch.as_tensor(v))), "loss")
            raise NonFiniteLossError(self.steps_done, bad, float(metrics.get(bad, loss)))
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        self.step += 1
        self.steps_done += 1
        return {**metrics, "lr": lr}

    @torch.no_grad()
    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits in eval mode (the module's train/eval mode is restored afterwards)."""
        was_training = self.model.training
        self.model.eval()
        try:
            return self.model.predict(x)
        finally:
            self.model.train(was_training)

    def domain_logits(self, features: torch.Tensor, class_logits: torch.Tensor) -> torch.Tensor | None:
        """What the discriminator says about ``features`` (None for methods without one); for plots."""
        if self.model.discriminator is None:
            return None
        return self.model.discriminator(features)

    def training_state(self) -> dict[str, Any]:
        """The algorithm's state dict, the optimiser state and the step, as saved in a checkpoint."""
        return {"algorithm": self.state_dict(), "optimizer": self.optimizer.state_dict(), "step": self.steps_done}

    def load_training_state(self, state: dict[str, Any], optimizer: bool = True) -> None:
        self.load_state_dict(state["algorithm"])
        if optimizer:
            self.optimizer.load_state_dict(state["optimizer"])
        self.steps_done = int(state["step"])
        self.step.fill_(self.steps_done)


def accuracy(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Fraction of rows whose arg-max is the label, as a 0-dim tensor (no host sync)."""
    return (logits.detach().argmax(dim=1) == labels).float().mean()

