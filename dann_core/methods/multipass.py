"""Helpers for a step with more than one forward pass (VAT/VADA's perturbation, consistency terms).

:meth:`Method.objective <dann_core.methods.Method.objective>` runs inside the run's autocast context
(``--precision bf16``/``fp16``), and every forward in training mode updates the batch-norm running
statistics. An extra forward that must be exact (a perturbation of 1e-6 vanishes in bf16) or that
must not move the statistics evaluation uses wraps itself in these::

    with full_precision(), frozen_bn_stats(self.model):
        d = (1e-6 * torch.randn_like(x, dtype=torch.float32)).requires_grad_()
        log_p = F.log_softmax(self.model(x.float() + d), dim=1)
        divergence = F.kl_div(log_p, F.softmax(logits.float().detach(), dim=1), reduction="batchmean")
        grad, = torch.autograd.grad(divergence, d)

See docs/methods.md, "Multi-pass steps".
"""
from __future__ import annotations

import contextlib
from typing import Iterator

import torch
from torch import nn

from ..domain_norm import per_domain_layers

_AUTOCAST_DEVICES = ("cpu", "cuda", "xpu", "mps", "hpu")


def _autocast_enabled(device_type: str) -> bool:
    try:
        return bool(torch.is_autocast_enabled(device_type))
    except (RuntimeError, ValueError, TypeError):  # a device type this torch build does not know
        return False


@contextlib.contextmanager
def full_precision() -> Iterator[None]:
    """Within: autocast is off on every device type where it was on, so operations compute in the
    dtype of their inputs (float32 for the model's parameters and the batch); the run's autocast
    comes back when the block ends. Tensors computed before the block under autocast stay bfloat16
    or float16: ``.float()`` those you feed into it. Nothing changes where autocast is off (fp32 runs)."""
    with contextlib.ExitStack() as stack:
        for device_type in _AUTOCAST_DEVICES:
            if _autocast_enabled(device_type):
                stack.enter_context(torch.autocast(device_type, enabled=False))
        yield


@contextlib.contextmanager
def frozen_bn_stats(module: nn.Module) -> Iterator[None]:
    """Within: forwards through ``module`` leave the running statistics of its batch-norm layers
    (``running_mean``, ``running_var``, ``num_batches_tracked``; per-domain layers' target statistics
    too) exactly as they were. The output is what it would be without the block: in training mode
    each layer still normalises by the batch's own statistics, in eval mode by the running ones (put
    the module in eval mode, ``module.eval()``, to normalise an extra forward by the running statistics).

    Ordinary batch-norm layers stop tracking for the block (``track_running_stats = False``: no buffer
    is written, so a backward after the block works); per-domain layers
    (:func:`dann_core.domain_norm.per_domain_batch_norm`) update theirs with momentum 0 and get their
    ``num_batches_tracked`` back at the end. Each layer's settings are restored when the block ends,
    also when it raises."""
    norms = [m for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    per_domain = {id(m) for m in per_domain_layers(module)}
    saved = [(m, m.track_running_stats, m.momentum, m.num_batches_tracked.clone() if m.num_batches_tracked is not None else None)
             for m in norms]
    try:
        for m, tracking, _, _ in saved:
            if id(m) in per_domain:
                m.momentum = 0.0
            elif tracking:
                m.track_running_stats = False
        yield
    finally:
        for m, tracking, momentum, batches in saved:
            m.track_running_stats, m.momentum = tracking, momentum
            if batches is not None and id(m) in per_domain:
                with torch.no_grad():
                    m.num_batches_tracked.copy_(batches)
