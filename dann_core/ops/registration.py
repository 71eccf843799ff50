"""Fake (meta) kernels for the compiled ops, so they work under torch.compile, meta tensors and opcheck.

Autograd for the losses is registered in C++ (csrc/autograd.cpp): a Python autograd kernel would put
the interpreter on every call, which costs more than the loss itself at DANN batch sizes.

Imported only once ``dann_core._C`` has loaded and defined the ``torch.ops.dann`` schemas.
"""
from __future__ import annotations

import torch


def _loss_shape(logits: torch.Tensor, reduction: str) -> tuple[int, ...]:
    return (logits.shape[0],) if reduction == "none" else ()


@torch.library.register_fake("dann::grl_backward")
def _(grad, lambd):
    return torch.empty_like(grad, memory_format=torch.contiguous_format)


@torch.library.register_fake("dann::split_reverse_backward")
def _(grad_label, grad_domain, n_label_rows, lambd):
    return torch.empty_like(grad_domain, memory_format=torch.contiguous_format)


@torch.library.register_fake("dann::domain_bce")
def _(logits, labels, n_source, weight, reduction):
    loss = logits.new_empty(_loss_shape(logits, reduction))
    grad = torch.empty_like(logits, memory_format=torch.contiguous_format)
    return loss, grad, logits.new_empty((), dtype=torch.int64)


@torch.library.register_fake("dann::domain_ce")
def _(logits, labels, weight, reduction):
    loss = logits.new_empty(_loss_shape(logits, reduction))
    grad = torch.empty_like(logits, memory_format=torch.contiguous_format)
    return loss, grad, logits.new_empty((), dtype=torch.int64)


@torch.library.register_fake("dann::grl_linear_backward")
def _(grad, x, weight, lambd):
    grad_x = torch.empty_like(x, memory_format=torch.contiguous_format)
    return grad_x, weight.new_empty(weight.shape), grad.new_empty((weight.shape[0],))
