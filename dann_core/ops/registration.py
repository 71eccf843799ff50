"""Fake (meta) kernels and autograd for the compiled ops, so they work under torch.compile and opcheck.

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


def _setup_loss(ctx, inputs, output):
    ctx.save_for_backward(output[1])


def _backward_loss(ctx, grad_loss, _grad_grad, _grad_correct):
    from . import scale_saved_grad

    (grad,) = ctx.saved_tensors
    n_other_inputs = ctx.n_other_inputs
    return (scale_saved_grad(grad, grad_loss),) + (None,) * n_other_inputs


def _setup_bce(ctx, inputs, output):
    _setup_loss(ctx, inputs, output)
    ctx.n_other_inputs = 4


def _setup_ce(ctx, inputs, output):
    _setup_loss(ctx, inputs, output)
    ctx.n_other_inputs = 3


torch.library.register_autograd("dann::domain_bce", _backward_loss, setup_context=_setup_bce)
torch.library.register_autograd("dann::domain_ce", _backward_loss, setup_context=_setup_ce)
