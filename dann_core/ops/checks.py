"""Input validation shared by every backend, so the kernel and the reference reject bad input alike.

The C++ kernels carry the same checks with the same wording (csrc/checks.h) for callers that use
``torch.ops.dann`` directly; keep the two in step.
"""
from __future__ import annotations

import torch

BINARY_LABELS_MSG = "domain_bce: labels must be 0 (source) or 1 (target); found another value"
FLOAT_DTYPES = (torch.float32, torch.float64, torch.bfloat16, torch.float16)
REDUCTIONS = ("none", "mean", "sum")


def class_labels_msg(k: int) -> str:
    return f"domain_ce: labels must be integers in [0, {k}) for {k} domains; found a value outside"


def check_lambda(lambd: torch.Tensor, like: torch.Tensor) -> None:
    if not isinstance(lambd, torch.Tensor) or lambd.dim() != 0:
        got = f"shape {tuple(lambd.shape)}" if isinstance(lambd, torch.Tensor) else type(lambd).__name__
        raise ValueError(f"lambd must be a 0-dim tensor (e.g. torch.tensor(0.5)), got {got}")
    if not lambd.is_floating_point():
        raise TypeError(f"lambd must be a floating-point tensor, got {lambd.dtype}")
    if not lambd.is_cpu and lambd.device != like.device:  # is_cpu first: building devices costs more
        raise ValueError(f"lambd is on {lambd.device} but the tensor is on {like.device}; use either or the CPU")


def _check_float(name: str, t: torch.Tensor) -> None:
    if t.dtype not in FLOAT_DTYPES:
        raise TypeError(f"{name} must be float32, float64, bfloat16 or float16, got {t.dtype}")


def _check_same_device(name: str, t: torch.Tensor, like: torch.Tensor) -> None:
    if t.device != like.device:
        raise ValueError(f"{name} is on {t.device} but logits are on {like.device}")


def _check_reduction(reduction: str) -> None:
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {', '.join(REDUCTIONS)}; got {reduction!r}")


def _check_weight(weight: torch.Tensor | None, logits: torch.Tensor) -> None:
    if weight is None:
        return
    _check_float("weight", weight)
    _check_same_device("weight", weight, logits)
    if weight.numel() != logits.shape[0] or weight.dim() != 1:
        raise ValueError(f"weight must have shape ({logits.shape[0]},) to match logits, got {tuple(weight.shape)}")


def check_split(grad_domain: torch.Tensor, n_label_rows: int, grad_label: torch.Tensor | None) -> None:
    n = grad_domain.shape[0] if grad_domain.dim() else 0
    if grad_domain.dim() == 0 or not 0 <= n_label_rows <= n:
        raise ValueError(f"n_label_rows must be in [0, {n}] (rows of features), got {n_label_rows}")
    if grad_label is not None and grad_label.shape != (n_label_rows, *grad_domain.shape[1:]):
        raise ValueError(
            f"grad_label must have shape {(n_label_rows, *grad_domain.shape[1:])}, got {tuple(grad_label.shape)}"
        )


def check_features(features: torch.Tensor, n_label_rows: int) -> None:
    _check_float("features", features)
    check_split(features, n_label_rows, None)


def check_domain_bce(
    logits: torch.Tensor, labels: torch.Tensor | None, n_source: int, weight: torch.Tensor | None, reduction: str
) -> None:
    _check_float("logits", logits)
    if logits.dim() not in (1, 2) or (logits.dim() == 2 and logits.shape[1] != 1):
        raise ValueError(f"logits must have shape (N,) or (N, 1), got {tuple(logits.shape)}")
    n = logits.shape[0]
    if n == 0:
        raise ValueError("logits is empty: a domain loss needs at least one row")
    if labels is None:
        if not 0 <= n_source <= n:
            raise ValueError(f"n_source must be in [0, {n}] (rows of logits), got {n_source}")
    else:
        _check_same_device("labels", labels, logits)
        if labels.numel() != n or labels.dim() > 2:
            raise ValueError(f"labels must have {n} entries to match logits, got shape {tuple(labels.shape)}")
    _check_weight(weight, logits)
    _check_reduction(reduction)


def check_domain_ce(logits: torch.Tensor, labels: torch.Tensor, weight: torch.Tensor | None, reduction: str) -> None:
    _check_float("logits", logits)
    if logits.dim() != 2 or logits.shape[1] < 1:
        raise ValueError(f"logits must have shape (N, K) with K domains, got {tuple(logits.shape)}")
    n = logits.shape[0]
    if n == 0:
        raise ValueError("logits is empty: a domain loss needs at least one row")
    _check_same_device("labels", labels, logits)
    if labels.is_floating_point() or labels.dtype == torch.bool or labels.is_complex():
        raise TypeError(f"labels must be an integer tensor of domain indices, got {labels.dtype}")
    if labels.numel() != n or labels.dim() != 1:
        raise ValueError(f"labels must have shape ({n},) to match logits, got {tuple(labels.shape)}")
    _check_weight(weight, logits)
    _check_reduction(reduction)
