"""What a training method is, and nothing else (the engine that runs it is :mod:`dann_core.train.engine`).

A method subclasses :class:`Method`, declares the batches it needs each step in ``needs``, takes
its options as keyword arguments of ``__init__`` after ``context`` (declared once: the registry reads
them from the signature) and implements :meth:`Method.objective`: the loss of one step and its
metrics. That is all a single-loss method writes; the engine owns optimisers, learning-rate annealing,
precision, compile, the non-finite guard and the gradient all-reduce of data-parallel runs.

A method with its own training scheme (several optimisers, alternating or multi-step updates: MCD,
ADDA, ...) also overrides :meth:`configure_optimizers` (name → optimiser) and :meth:`update`, which
gets the engine and calls ``engine.minimize(loss, "name")`` for each of its steps. The checkpoint is
the module's ``state_dict`` (weights and buffers of everything the method added, plus
``get_extra_state`` if it defines one) and the engine's optimiser states.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any, Callable, ClassVar, Mapping

import torch
from torch import nn

from .. import schedules
from ..model import DANNModel
from ..nn import domain_rows, per_domain_layers
from .sgd import SGD

SOURCE = "source"
"""A labelled source batch: ``batch.source_x``, ``batch.source_y`` and, when the dataset has several
source domains, ``batch.source_domains`` (0..K-2 per row)."""
TARGET = "target"
"""An unlabelled target batch: ``batch.target_x`` (target labels never reach the method)."""
TARGET_LABELLED = "target_labelled"
"""A labelled target batch: ``batch.labelled_target_x``, ``batch.labelled_target_y`` (oracles only;
reverse validation and label-free selection refuse such methods)."""
BATCH_KINDS = (SOURCE, TARGET, TARGET_LABELLED)


class NonFiniteLossError(FloatingPointError):
    """A loss became NaN or infinite; no parameter was updated with it."""

    def __init__(self, step: int, name: str, value: float | None = None) -> None:
        super().__init__(f"{name} is {'not finite' if value is None else value} at step {step}")
        self.step, self.name, self.value = step, name, value


@dataclass
class Batch:
    """One step's inputs; the fields of batch kinds the method did not ask for are None."""

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
    backbone_lr_mult: float = 1.0


@dataclass
class MethodContext:
    """What the trainer hands a method factory besides its options.

    ``backbone`` and ``classifier`` are built from the run's backbone plugin;
    ``make_discriminator(in_features)`` builds the run's discriminator plugin for features of that
    width with ``num_domains`` outputs' worth of domains (2: source vs target; K+1 for K sources);
    ``make_discriminator(in_features, domains=K)`` builds one for K outputs (e.g. an auxiliary head).
    """

    backbone: nn.Module
    classifier: nn.Module
    make_discriminator: Callable[..., nn.Module]
    num_classes: int
    num_domains: int
    optim: OptimSettings


class Method(nn.Module):
    """A training method: a :class:`~dann_core.model.DANNModel` (``self.model``) and a step counter.

    Subclasses set ``needs`` (a subset of :data:`SOURCE`, :data:`TARGET`, :data:`TARGET_LABELLED`),
    build whatever else they need in ``__init__`` (a discriminator through
    ``context.make_discriminator``, stored as ``self.model.discriminator`` so evaluations find it)
    and implement :meth:`objective`. Metrics are tensors (the engine never reads them per step) or
    numbers computed on the host (``lambda``). A method whose metrics differ from the label loss
    declares the ones worth showing in ``summary_metrics`` and ``progress_metrics``.
    """

    needs: ClassVar[frozenset[str]] = frozenset({SOURCE})
    summary_metrics: ClassVar[tuple[str, ...]] = ("label_loss",)
    """Metrics (names in what :meth:`update` returns) the run's summary records: their means over the
    last evaluation's window go to summary.json's ``final``, beside the trainer's ``step``,
    ``source_val_acc`` and ``target_test_acc``. A name that window lacks (a phase that does not
    report it) is left out. Domain-adversarial methods add ``domain_loss`` and ``domain_acc``."""
    progress_metrics: ClassVar[Mapping[str, str]] = {"label_loss": "loss"}
    """Metrics the progress bar shows, name → its label there (before the trainer's ``val`` and ``test``)."""
    schedule_metrics: ClassVar[tuple[str, ...]] = ("lambda",)
    """Metrics that are a schedule's value at the step (host numbers such as λ): metrics.jsonl records
    the last step's value instead of the window's mean. The engine's ``lr`` always is one."""

    def __init__(self, context: MethodContext) -> None:
        super().__init__()
        unknown = set(self.needs) - set(BATCH_KINDS)
        if unknown:
            raise TypeError(f"{type(self).__name__}.needs has unknown batch kinds {sorted(unknown)}; use {', '.join(BATCH_KINDS)}")
        for name in ("summary_metrics", "progress_metrics", "schedule_metrics"):
            names = getattr(self, name)
            if isinstance(names, str) or not all(isinstance(key, str) for key in names):
                raise TypeError(f"{type(self).__name__}.{name} is {names!r}: declare metric names as a tuple of strings"
                                + (" (or a dict name → label)" if name == "progress_metrics" else ""))
        self.model = DANNModel(context.backbone, context.classifier, None)
        self.optim = context.optim
        self.num_domains = context.num_domains
        self.num_classes = context.num_classes
        self.register_buffer("step", torch.zeros((), dtype=torch.long))
        self.steps_done = 0  # host copy of ``step``: reading the buffer would sync with a GPU
        self._pretrained: frozenset[str] | None = None  # names; None: ask the backbone
        self._per_domain: list[nn.Module] | None = None  # per-domain batch-norm layers, found at the first step

    # ------------------------------------------------------------------------- what to override

    def objective(self, batch: Batch) -> tuple[torch.Tensor, dict[str, Any]]:
        """The loss to minimise this step and its metrics (detached tensors or numbers)."""
        raise NotImplementedError(f"{type(self).__name__} must implement objective(batch) (or update(batch, engine))")

    def configure_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        """The method's optimisers by name (default: ``{"main": SGD}`` over every parameter).

        Each parameter group may carry ``lr_mult``; the engine anneals every group's rate from the
        rate it was created with (the paper's μp = μ0/(1+10p)^0.75 when ``lr_schedule``). Build
        SGDs with :meth:`sgd`, which applies the run's momentum and weight decay.
        """
        return {"main": self.sgd(self.parameter_groups())}

    def update(self, batch: Batch, engine) -> dict[str, Any]:
        """One training step: by default ``engine.minimize`` of :meth:`objective` under the run's
        precision (``engine`` is the run's :class:`dann_core.train.Engine`, the layer above).
        Override for several optimisers or steps (each ``engine.minimize(loss, name)``;
        wrap forwards in ``engine.autocast()``); return the step's metrics."""
        with engine.autocast():
            loss, metrics = self.objective(batch)
        engine.minimize(loss)
        return metrics

    # ---------------------------------------------------------------------------- building blocks

    def sgd(self, params, lr: float | None = None) -> torch.optim.SGD:
        """An SGD with the run's momentum and weight decay at ``lr`` (default: the run's μ0).

        Groups keep their own ``lr_mult`` (× ``lr``). Fused where torch has a fused SGD for the
        parameters' device: its ``found_inf`` skips a step on the device (the non-finite guard)."""
        o, lr = self.optim, self.optim.lr if lr is None else lr
        groups = list(params)
        if groups and not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            group.setdefault("lr_mult", 1.0)
            group["lr"] = lr * group["lr_mult"]
        tensors = [p for group in groups for p in group["params"]]
        return SGD(groups, lr=lr, momentum=o.momentum, weight_decay=o.weight_decay, fused=_fused_ok(tensors))

    def pretrained_names(self) -> frozenset[str]:
        """Names of the parameters the backbone's ``pretrained_parameters()`` marks (none if it has no such method)."""
        if self._pretrained is None:
            marked = getattr(self.model.backbone, "pretrained_parameters", None)
            ids = {id(p) for p in marked()} if callable(marked) else set()
            self._pretrained = frozenset(name for name, p in self.named_parameters() if id(p) in ids)
        return self._pretrained

    def parameter_groups(self) -> list[dict[str, Any]]:
        """Every parameter in one group, or the new ones and then the pretrained ones
        (``lr_mult = backbone_lr_mult``) when the backbone marks any and the multiplier is not 1.
        Keeping one group otherwise keeps older checkpoints loadable."""
        pretrained, mult = self.pretrained_names(), self.optim.backbone_lr_mult
        named = list(self.named_parameters())
        if not pretrained or mult == 1.0:
            return [{"params": [p for _, p in named], "lr_mult": 1.0}]
        return [
            {"params": [p for name, p in named if name not in pretrained], "lr_mult": 1.0},
            {"params": [p for name, p in named if name in pretrained], "lr_mult": mult},
        ]

    def domain_statistics(self, batch: Batch) -> contextlib.AbstractContextManager:
        """The context the engine enters around each step: per-domain batch-norm layers of the method's
        networks (:func:`dann_core.nn.per_domain_batch_norm`) split an input of the batch's source rows
        followed by its target rows, as if source and target went through separately. Nothing for
        networks without such layers."""
        if self._per_domain is None:
            self._per_domain = per_domain_layers(self)
        if not self._per_domain or batch.source_x is None or batch.target_x is None:
            return contextlib.nullcontext()
        return domain_rows(None, batch.source_x.shape[0], batch.target_x.shape[0], self._per_domain)

    def progress(self) -> float:
        """Training progress p in [0, 1] of the step about to be taken."""
        return schedules.progress(self.steps_done, self.optim.steps)

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

    def set_steps_done(self, step: int) -> None:
        """Move the step counter (host copy and buffer) to ``step``, as a checkpoint records it."""
        self.steps_done = int(step)
        self.step.fill_(self.steps_done)


def _fused_ok(params: list[torch.Tensor]) -> bool:
    """Whether torch has a fused SGD for every parameter (floating point, on a device it supports)."""
    from torch.optim.optimizer import _get_fused_kernels_supported_devices

    devices = _get_fused_kernels_supported_devices()
    return bool(params) and all(p.device.type in devices and p.is_floating_point() for p in params)


def accuracy(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Fraction of rows whose arg-max is the label, as a 0-dim tensor (no host sync)."""
    return (logits.detach().argmax(dim=1) == labels).float().mean()


DEPRECATED_NAMES = {"Algorithm": "Method", "AlgorithmContext": "MethodContext"}
"""Old name → new name of the method contract's classes (the word the CLI uses is "method")."""


_WARNED: set[str] = set()


def deprecated(name: str, module: str):
    """The class now called ``DEPRECATED_NAMES[name]``; the first time, one DeprecationWarning naming it
    (``from x import y`` asks a package for ``y`` twice: one warning, not two)."""
    import warnings

    new = DEPRECATED_NAMES[name]
    if f"{module}.{name}" not in _WARNED:
        _WARNED.add(f"{module}.{name}")
        warnings.warn(f"{module}.{name} is renamed dann_core.methods.{new}; import {new} from dann_core.methods",
                      DeprecationWarning, stacklevel=3)
    return globals()[new]


def __getattr__(name: str):  # Algorithm, AlgorithmContext: the names before "method" (one DeprecationWarning)
    if name in DEPRECATED_NAMES:
        return deprecated(name, __name__)
    raise AttributeError(f"module '{__name__}' has no attribute '{name}'")
