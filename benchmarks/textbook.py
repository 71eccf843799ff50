"""What users write today without dann: the tllib-style gradient reversal layer (the baselines)."""
from __future__ import annotations

import torch


class TextbookGRL(torch.autograd.Function):
    """Identity forward; backward ``grad.neg() * λ`` (tllib's GradientReverseFunction)."""

    @staticmethod
    def forward(ctx, x, lambd):
        ctx.save_for_backward(lambd)
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad):
        (lambd,) = ctx.saved_tensors
        return grad.neg() * lambd, None


def textbook_grl_backward(grad: torch.Tensor, lambd: torch.Tensor) -> torch.Tensor:
    return grad.neg() * lambd
