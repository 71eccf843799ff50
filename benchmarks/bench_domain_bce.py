"""Domain BCE forward+backward (and domain accuracy): dann's fused op vs torch's BCE-with-logits.

Baselines: ``F.binary_cross_entropy_with_logits`` + autograd backward ("eager"), the same plus the
domain accuracy a DANN user computes ("eager+acc"), torch.compile of the latter, and a copy of the
logits' bytes.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from benchmarks.common import Variant, compiled, loss_backward, measure, report, sizes
from dann_core import ops


def _torch_loss_and_accuracy(z, y):
    return F.binary_cross_entropy_with_logits(z, y), ((z > 0).float() == y).sum()


def run(quick: bool = False) -> None:
    torch_compiled = compiled(_torch_loss_and_accuracy)
    rows = []
    for n in sizes(quick):
        z = torch.randn(n, requires_grad=True)
        n_source = n // 2
        y = (torch.arange(n) >= n_source).float()
        out = torch.empty_like(z)

        def dann():
            return torch.autograd.grad(ops.domain_bce(z, n_source).loss, z)

        def eager():
            return torch.autograd.grad(F.binary_cross_entropy_with_logits(z, y), z)

        variants = [
            Variant("dann", dann),
            Variant("eager", eager),
            Variant("eager+acc", loss_backward(_torch_loss_and_accuracy, z, y)),
            Variant("compiled", loss_backward(torch_compiled, z, y)),
            Variant("copy", lambda: out.copy_(z.detach())),
        ]
        rows.append((n, measure(variants)))
    report("domain_bce fwd+bwd", rows, "dann")


if __name__ == "__main__":
    run()
