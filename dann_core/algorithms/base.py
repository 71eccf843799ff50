"""The base class of training methods, DomainBed style: ``update(batch) -> metrics`` and ``predict(x)``.

A method subclasses :class:`Algorithm`, declares the batches it needs each step in ``needs``, takes
its options as keyword arguments of ``__init__`` after ``context`` (declared once: the registry reads
them from the signature) and implements :meth:`Algorithm.objective`. The base owns what every
method shares: the SGD optimiser over all of the algorithm's parameters (the backbone's pretrained
ones at ``backbone_lr_mult`` times the rate), the paper's learning-rate annealing, the step counter (a buffer, so schedules resume exactly), the non-finite-loss guard
(on the device: no host read per step, see :meth:`Algorithm.update`), prediction and the checkpoint state (the module's ``state_dict``: weights and buffers of everything
the method added, plus ``get_extra_state`` if it defines one).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, ClassVar

import math
import warnings
from contextlib import nullcontext

import torch
from torch import nn

from .. import schedules
from ..config import PRECISIONS
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

    def __init__(self, step: int, name: str, value: float | None = None) -> None:
        super().__init__(f"{name} is {'not finite' if value is None else value} at step {step}")
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
    backbone_lr_mult: float = 1.0


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
        self._pretrained: frozenset[str] | None = None  # names; None: ask the backbone
        self._found: torch.Tensor | None = None  # 1.0 once a loss was non-finite (on the device)
        self._skipped: torch.Tensor | None = None  # steps skipped since then
        self._momentum_primed = False
        self._autocast_dtype: torch.dtype | None = None
        self._scaler: torch.amp.GradScaler | None = None
        self.data_parallel = False  # set by the trainer under torchrun: gradients averaged across processes

    @property
    def optimizer(self) -> torch.optim.Optimizer:
        """SGD over every parameter of the algorithm, created once the subclass has built its modules.

        The backbone's pretrained parameters form a second group at ``backbone_lr_mult`` × the rate
        (see :meth:`parameter_groups`). Fused where torch has a fused SGD for the parameters' device (CPU, CUDA): its ``found_inf``
        argument skips a step on the device, which is how :meth:`update` refuses a non-finite loss
        without reading it on the host."""
        if self._optimizer is None:
            o = self.optim
            self._optimizer = torch.optim.SGD(self.parameter_groups(), lr=o.lr, momentum=o.momentum, weight_decay=o.weight_decay, fused=_fused_ok(self))
        return self._optimizer

    def pretrained_names(self) -> frozenset[str]:
        """Names of the parameters the backbone's ``pretrained_parameters()`` marks (none if it has no such method)."""
        if self._pretrained is None:
            marked = getattr(self.model.backbone, "pretrained_parameters", None)
            ids = {id(p) for p in marked()} if callable(marked) else set()
            self._pretrained = frozenset(name for name, p in self.named_parameters() if id(p) in ids)
        return self._pretrained

    def parameter_groups(self) -> list[dict[str, Any]]:
        """The optimiser's groups, each with its ``lr_mult``: every parameter in one group, or the new ones
        and then the pretrained ones (``lr_mult = backbone_lr_mult``) when the backbone marks any and
        the multiplier is not 1. Keeping one group otherwise keeps older checkpoints loadable."""
        pretrained, mult = self.pretrained_names(), self.optim.backbone_lr_mult
        named = list(self.named_parameters())
        if not pretrained or mult == 1.0:
            return [{"params": [p for _, p in named], "lr_mult": 1.0}]
        return [
            {"params": [p for name, p in named if name not in pretrained], "lr_mult": 1.0},
            {"params": [p for name, p in named if name in pretrained], "lr_mult": mult},
        ]

    def configure(self, device: torch.device | str, precision: str = "fp32", compile: bool = False) -> None:
        """How :meth:`update` runs on ``device`` (the algorithm must already be there).

        ``precision``: ``fp32`` (no autocast), ``bf16`` (autocast around the objective) or ``fp16``
        (autocast plus loss scaling, CUDA only: ValueError elsewhere). ``compile``: torch.compile each
        module of the model in place (state dict keys unchanged; λ is a buffer passed to the ops, so
        changing it never recompiles); where compile does not work it warns once and stays eager.
        """
        device = torch.device(device)
        if precision not in PRECISIONS:
            raise ValueError(f"unknown precision '{precision}'; use {', '.join(PRECISIONS)}")
        if precision == "fp16" and device.type != "cuda":
            raise ValueError(f"precision fp16 needs CUDA (loss scaling); on {device.type} use bf16 or fp32")
        self._device_type = device.type
        self._autocast_dtype = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]
        self._scaler = torch.amp.GradScaler(device.type) if precision == "fp16" else None
        if compile and _compile_works(device):
            for module in (self.model.backbone, self.model.classifier, self.model.discriminator):
                if module is not None:
                    module.compile()

    def _autocast(self):
        if self._autocast_dtype is None:
            return nullcontext()
        return torch.autocast(self._device_type, dtype=self._autocast_dtype)


    def progress(self) -> float:
        """Training progress p in [0, 1] of the step about to be taken."""
        return schedules.progress(self.steps_done, self.optim.steps)

    def objective(self, batch: Batch) -> tuple[torch.Tensor, dict[str, Any]]:
        """The loss to minimise this step and its metrics (detached tensors or numbers)."""
        raise NotImplementedError(f"{type(self).__name__} must implement objective(batch)")

    def update(self, batch: Batch) -> dict[str, Any]:
        """One SGD step; returns the step's metrics (tensors, not read) plus ``lr``.

        A NaN/inf loss is caught on the device, without a host read: its step and every later one
        leave parameters and optimiser state untouched (the fused step's ``found_inf``), and the
        first such step is recorded; :meth:`check_finite` raises :class:`NonFiniteLossError` naming
        it. The trainer calls that before it evaluates, logs or saves anything, so no checkpoint
        ever holds weights a non-finite loss touched.
        """
        lr = schedules.lr_at(self.progress(), self.optim.lr, self.optim.lr_schedule)
        optimizer = self.optimizer
        for group in optimizer.param_groups:  # the schedule scales every group alike
            group["lr"] = lr * group["lr_mult"]
        with self._autocast():
            loss, metrics = self.objective(batch)
        optimizer.zero_grad(set_to_none=True)
        scaler = self._scaler
        (loss if scaler is None else scaler.scale(loss)).backward()
        if self.data_parallel:  # every process then sees the same gradients and the same guard
            from ..train.distributed import average_gradients

            loss = average_gradients(self.parameters(), loss)
        skip = self._guard(loss)
        if optimizer.defaults.get("fused"):
            if not self._momentum_primed:  # a skipped first step must not leave torch's uninitialised buffers behind
                _prime_momentum(optimizer)
                self._momentum_primed = True
            if scaler is None:
                optimizer.found_inf = skip
                optimizer.step()
            else:  # fp16: a bad loss poisons one gradient, so the scaler's own device-side check skips the step
                grad = next(p.grad for p in self.parameters() if p.grad is not None)
                grad[(0,) * grad.dim()].add_(torch.where(skip > 0, math.inf, 0.0))
                scaler.step(optimizer)
                scaler.update()
        elif not bool(skip):  # no fused SGD on this device: one host read per step
            if scaler is None:
                optimizer.step()
            else:
                scaler.step(optimizer)
                scaler.update()
        self.step += 1
        self.steps_done += 1
        return {**metrics, "lr": lr}

    def _guard(self, loss: torch.Tensor) -> torch.Tensor:
        """1.0 (skip the update) from the first step with a non-finite loss on, else 0.0, on the device;
        counts the skipped steps. Four small ops: ``0 * loss`` is 0 exactly when the loss is finite."""
        if self._found is None or self._found.device != loss.device:
            self._found = torch.zeros((), device=loss.device)
            self._skipped = torch.zeros((), device=loss.device)
        self._found = torch.maximum(self._found, loss.detach().mul(0).ne(0))
        self._skipped.add_(self._found)
        return self._found

    def check_finite(self, window: dict[str, float] | None = None) -> None:
        """Raise :class:`NonFiniteLossError` if a step had a NaN/inf loss (one host read).

        Parameters and optimiser state hold what they were before that step: it and every later
        step were skipped. ``window`` (the means of the step metrics since the last check) names
        the culprit: its first non-finite ``*loss`` metric."""
        if self._skipped is None:
            return
        skipped = int(self._skipped)
        if skipped == 0:
            return
        window = window or {}
        bad = next((key for key, value in window.items() if key.endswith("loss") and not math.isfinite(value)), None)
        raise NonFiniteLossError(self.steps_done - skipped, bad or "loss", window[bad] if bad else None)

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
        """The algorithm's state dict, the optimiser state, the step and the pretrained parameters' names
        (they define the optimiser's groups, so a run rebuilt without the weights file still resumes exactly)."""
        return {"algorithm": self.state_dict(), "optimizer": self.optimizer.state_dict(), "step": self.steps_done,
                "pretrained": sorted(self.pretrained_names())}

    def load_training_state(self, state: dict[str, Any], optimizer: bool = True) -> None:
        self.load_state_dict(state["algorithm"])
        if optimizer:
            if "pretrained" in state and frozenset(state["pretrained"]) != self.pretrained_names():
                self._pretrained, self._optimizer = frozenset(state["pretrained"]), None
            mults = [group["lr_mult"] for group in self.optimizer.param_groups]
            self.optimizer.load_state_dict(state["optimizer"])
            for group, mult in zip(self.optimizer.param_groups, mults):  # a checkpoint's groups carry its own "fused" flag
                group["fused"], group["lr_mult"] = self.optimizer.defaults["fused"], mult
            self._momentum_primed = False
        self.steps_done = int(state["step"])
        self.step.fill_(self.steps_done)
        self._found = self._skipped = None


_COMPILE_WARNED = False


def _compile_works(device: torch.device) -> bool:
    """Whether torch.compile compiles and runs a one-line function on ``device``; warns once if not."""
    global _COMPILE_WARNED
    try:
        torch.compile(lambda x: x * 2 + 1)(torch.ones(2, device=device))
        return True
    except Exception as exc:  # no C++ compiler, unsupported Python or platform, ...
        if not _COMPILE_WARNED:
            reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]
            warnings.warn(f"--compile: torch.compile is unavailable here ({reason}); training runs eagerly", RuntimeWarning, stacklevel=3)
            _COMPILE_WARNED = True
        return False


def _fused_ok(module: nn.Module) -> bool:
    """Whether torch has a fused SGD for every parameter (floating point, on a device it supports)."""
    from torch.optim.optimizer import _get_fused_kernels_supported_devices

    devices = _get_fused_kernels_supported_devices()
    return all(p.device.type in devices and p.is_floating_point() for p in module.parameters())


def _prime_momentum(optimizer: torch.optim.Optimizer) -> None:
    """Zero momentum buffers where there are none: the same first step as torch's (buf = grad), but a
    skipped first step leaves zeros instead of torch.empty_like's garbage."""
    for group in optimizer.param_groups:
        if group["momentum"] == 0:
            continue
        for p in group["params"]:
            state = optimizer.state[p]
            if state.get("momentum_buffer") is None:
                state["momentum_buffer"] = torch.zeros_like(p, memory_format=torch.preserve_format)


def accuracy(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Fraction of rows whose arg-max is the label, as a 0-dim tensor (no host sync)."""
    return (logits.detach().argmax(dim=1) == labels).float().mean()

