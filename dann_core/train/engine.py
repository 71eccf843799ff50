"""The engine: how any method's step runs. It owns the optimisers, the learning-rate annealing,
precision (autocast, fp16 loss scaling), compile, the non-finite guard and the gradient all-reduce
of data-parallel runs; the method (:mod:`dann_core.methods`) only says what to minimise.

The non-finite guard needs no host read per step: a NaN/inf loss sets a flag on the device, and
that step and every later one leave parameters and optimiser state untouched (the fused SGD's
``found_inf``; fp16: one poisoned gradient makes the scaler skip). :meth:`Engine.check_finite` reads
the flag once, before anything is evaluated, logged or saved, so no checkpoint ever holds weights a
non-finite loss touched.
"""
from __future__ import annotations

import math
import warnings
from contextlib import nullcontext
from typing import Any

import torch

from .. import schedules
from ..methods import Method, Batch, NonFiniteLossError
from ..config import PRECISIONS
from . import distributed
from .errors import MethodContractError

MAIN = "main"
"""The name of a method's only optimiser (checkpoints store it as ``optimizer``, as before names existed)."""
ENGINE_KEYS = ("initial_lr", "lr_mult", "fused")
"""Group entries the engine manages: a loaded optimiser state keeps the fresh ones, not the checkpoint's."""


class Engine:
    """Runs ``method.update(batch, engine)`` once per step; see the module docstring.

    Args:
        method: the method, already on ``device``.
        precision: ``fp32`` (no autocast), ``bf16`` (autocast) or ``fp16`` (autocast plus loss scaling, CUDA only).
        compile: torch.compile each module of the model in place (state dict keys unchanged); where
            compile does not work it warns once and stays eager.
        data_parallel: average gradients (and the loss the guard checks) across processes.
        channels_last: 4-D weights and batch inputs in the channels-last memory format (same values;
            convolutions pick NHWC kernels, tensor cores on a GPU).
    """

    def __init__(self, method: Method, device: torch.device | str, precision: str = "fp32", compile: bool = False,
                 data_parallel: bool = False, channels_last: bool = False) -> None:
        device = torch.device(device)
        if precision not in PRECISIONS:
            raise ValueError(f"unknown precision '{precision}'; use {', '.join(PRECISIONS)}")
        if precision == "fp16" and device.type != "cuda":
            raise ValueError(f"precision fp16 needs CUDA (loss scaling); on {device.type} use bf16 or fp32")
        self.method, self.device, self.data_parallel = method, device, data_parallel
        self.autocast_dtype = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]
        self.scaler = torch.amp.GradScaler(device.type) if precision == "fp16" else None
        self._optimizers: dict[str, torch.optim.Optimizer] | None = None
        self._primed: set[str] = set()
        self._found: torch.Tensor | None = None  # 1.0 once a loss was non-finite (on the device)
        self._skipped: torch.Tensor | None = None  # steps skipped since then
        self.memory_format = torch.channels_last if channels_last else None
        if channels_last:
            method.to(memory_format=torch.channels_last)  # only 4-D parameters change layout
        if compile and _compile_works(device):
            for module in (method.model.backbone, method.model.classifier, method.model.discriminator):
                if module is not None:
                    module.compile()

    # ------------------------------------------------------------------------------- optimisers

    @property
    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        """The method's optimisers by name, created on first use (the method is on its device by then)."""
        if self._optimizers is None:
            made = self.method.configure_optimizers()
            made = {MAIN: made} if isinstance(made, torch.optim.Optimizer) else dict(made)
            if not made or not all(isinstance(o, torch.optim.Optimizer) for o in made.values()):
                raise TypeError(f"{type(self.method).__name__}.configure_optimizers() must return an optimiser or a dict of them, got {made!r}")
            for optimizer in made.values():
                for group in optimizer.param_groups:
                    group.setdefault("lr_mult", 1.0)
                    group.setdefault("initial_lr", group["lr"])
            self._optimizers = made
        return self._optimizers

    @property
    def optimizer(self) -> torch.optim.Optimizer:
        """The first (for most methods the only) optimiser."""
        return next(iter(self.optimizers.values()))

    def autocast(self):
        """The run's autocast context for forwards inside a custom ``update``."""
        if self.autocast_dtype is None:
            return nullcontext()
        return torch.autocast(self.device.type, dtype=self.autocast_dtype)

    # -------------------------------------------------------------------------------- the step

    def step(self, batch: Batch) -> dict[str, Any]:
        """One training step of the method; returns its metrics (tensors, not read) plus ``lr``."""
        method = self.method
        p = method.progress()
        for optimizer in self.optimizers.values():
            for group in optimizer.param_groups:
                group["lr"] = schedules.lr_at(p, group["initial_lr"], method.optim.lr_schedule)
        if self.memory_format is not None:
            batch = _in_format(batch, self.memory_format)
        with method.domain_statistics(batch):  # per-domain batch norm, where the networks have it
            metrics = method.update(batch, self)
        if self._found is not None:
            self._skipped.add_(self._found)
        method.step += 1
        method.steps_done += 1
        return {**metrics, "lr": self.optimizer.param_groups[0]["lr"]}

    def minimize(self, loss: torch.Tensor, optimizers: str | list[str] | None = None, retain_graph: bool = False) -> None:
        """Backward ``loss`` and step the named optimisers (default: all), unless a loss of this run
        was ever non-finite. Gradients of those optimisers' parameters are zeroed first."""
        if not isinstance(loss, torch.Tensor) or loss.dim() != 0:  # shape only: no read from the device
            got = f"a tensor of shape {tuple(loss.shape)}" if isinstance(loss, torch.Tensor) else f"a {type(loss).__name__}"
            raise MethodContractError(f"method {type(self.method).__name__}: the loss to minimise (objective()'s first value) "
                                      f"must be a scalar tensor, got {got}; reduce it, e.g. loss.mean()")
        chosen = self._chosen(optimizers)
        for optimizer in chosen:
            optimizer.zero_grad(set_to_none=True)
        scaler = self.scaler
        (loss if scaler is None else scaler.scale(loss)).backward(retain_graph=retain_graph)
        if self.data_parallel:  # every process then sees the same gradients and the same guard
            params = [p for optimizer in chosen for group in optimizer.param_groups for p in group["params"]]
            loss = distributed.average_gradients(params, loss)
        skip = self._guard(loss)
        for name, optimizer in zip(self._names(optimizers), chosen):
            self._apply(name, optimizer, skip)
        if scaler is not None:
            scaler.update()

    def _names(self, optimizers) -> list[str]:
        if optimizers is None:
            return list(self.optimizers)
        names = [optimizers] if isinstance(optimizers, str) else list(optimizers)
        unknown = [n for n in names if n not in self.optimizers]
        if unknown:
            raise KeyError(f"{type(self.method).__name__} has no optimiser {unknown[0]!r}; it has {', '.join(self.optimizers)}")
        return names

    def _chosen(self, optimizers) -> list[torch.optim.Optimizer]:
        return [self.optimizers[name] for name in self._names(optimizers)]

    def _apply(self, name: str, optimizer: torch.optim.Optimizer, skip: torch.Tensor) -> None:
        scaler = self.scaler
        if optimizer.defaults.get("fused"):
            if name not in self._primed:  # a skipped first step must not leave torch's uninitialised buffers behind
                _prime_momentum(optimizer)
                self._primed.add(name)
            if scaler is None:
                optimizer.found_inf = skip
                optimizer.step()
            else:  # fp16: a bad loss poisons one gradient, so the scaler's own device-side check skips the step
                grad = next((p.grad for g in optimizer.param_groups for p in g["params"] if p.grad is not None), None)
                if grad is not None:
                    grad[(0,) * grad.dim()].add_(torch.where(skip > 0, math.inf, 0.0))
                scaler.step(optimizer)
        elif not bool(skip):  # no fused SGD on this device (or not an SGD): one host read per step
            optimizer.step() if scaler is None else scaler.step(optimizer)

    def _guard(self, loss: torch.Tensor) -> torch.Tensor:
        """1.0 (skip the update) from the first non-finite loss on, else 0.0, on the device (:meth:`step`
        counts the skipped steps). Three small ops: ``0 * loss`` is 0 exactly when the loss is finite."""
        if self._found is None or self._found.device != loss.device:
            self._found = torch.zeros((), device=loss.device)
            self._skipped = torch.zeros((), device=loss.device)
        self._found = torch.maximum(self._found, loss.detach().mul(0).ne(0))
        return self._found

    def check_finite(self, window: dict[str, float] | None = None) -> None:
        """Raise :class:`NonFiniteLossError` if a step had a NaN/inf loss (one host read).

        ``window`` (the means of the step metrics since the last check) names the culprit: its first
        non-finite ``*loss`` metric."""
        if self._skipped is None:
            return
        skipped = int(self._skipped)
        if skipped == 0:
            return
        window = window or {}
        bad = next((key for key, value in window.items() if key.endswith("loss") and not math.isfinite(value)), None)
        raise NonFiniteLossError(self.method.steps_done - skipped, bad or "loss", window[bad] if bad else None)

    # ------------------------------------------------------------------------------ checkpoints

    def state_dict(self) -> dict[str, Any]:
        """The method's weights, the optimisers' states, the step and the pretrained parameters' names
        (they define the default optimiser's groups, so a run rebuilt without the weights file still
        resumes exactly), and under fp16 the loss scaler's scale and growth tracker (a resumed run that
        restarted from the initial scale would skip steps the uninterrupted one took). One optimiser is
        stored as ``optimizer`` (the format before names existed)."""
        optimizers = {name: o.state_dict() for name, o in self.optimizers.items()}
        state = {"method": self.method.state_dict(), "step": self.method.steps_done, "pretrained": sorted(self.method.pretrained_names())}
        if list(optimizers) == [MAIN]:
            state["optimizer"] = optimizers[MAIN]
        else:
            state["optimizers"] = optimizers
        if self.scaler is not None:
            state["grad_scaler"] = self.scaler.state_dict()
        return state

    def load_state_dict(self, state: dict[str, Any], optimizers: bool = True) -> None:
        method = self.method
        method.load_state_dict(state["method"])
        if optimizers:
            if "pretrained" in state and frozenset(state["pretrained"]) != method.pretrained_names():
                method._pretrained, self._optimizers = frozenset(state["pretrained"]), None
            saved = state["optimizers"] if "optimizers" in state else {MAIN: state["optimizer"]}
            if set(saved) != set(self.optimizers):
                raise KeyError(f"optimisers {sorted(saved)} in the checkpoint, {sorted(self.optimizers)} in {type(method).__name__}")
            for name, optimizer in self.optimizers.items():
                kept = [{key: group[key] for key in ENGINE_KEYS if key in group} for group in optimizer.param_groups]
                optimizer.load_state_dict(saved[name])
                for group, engine_keys in zip(optimizer.param_groups, kept):
                    group.update(engine_keys)
            if self.scaler is not None and state.get("grad_scaler"):  # absent: a checkpoint written before it was kept
                self.scaler.load_state_dict(state["grad_scaler"])
            self._primed = set()
        method.set_steps_done(int(state["step"]))
        self._found = self._skipped = None


_COMPILE_WARNED = False


def _in_format(batch: Batch, memory_format: torch.memory_format) -> Batch:
    """The batch with its 4-D tensors (images) in ``memory_format``."""
    fields = {name: value.contiguous(memory_format=memory_format) if isinstance(value, torch.Tensor) and value.dim() == 4 else value
              for name, value in vars(batch).items()}
    return Batch(**fields)


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


def _prime_momentum(optimizer: torch.optim.Optimizer) -> None:
    """Zero momentum buffers where there are none: the same first step as torch's (buf = grad), but a
    skipped first step leaves zeros instead of torch.empty_like's garbage."""
    for group in optimizer.param_groups:
        if group.get("momentum", 0) == 0:
            continue
        for p in group["params"]:
            state = optimizer.state[p]
            if state.get("momentum_buffer") is None:
                state["momentum_buffer"] = torch.zeros_like(p, memory_format=torch.preserve_format)
