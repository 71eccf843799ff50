"""K-way domain cross-entropy forward+backward (K = 4 source domains + accuracy) at each CPU tier vs F.cross_entropy."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from benchmarks.common import Variant, compiled, dann_variants, loss_backward, measure, report, sizes
from dann_core import ops

K = 4


def _torch_loss_and_accuracy(z, y):
    return F.cross_entropy(z, y), (z.argmax(dim=1) == y).sum()


def run(quick: bool = False) -> None:
    torch_compiled = compiled(_torch_loss_and_accuracy)
    rows = []
    for n in sizes(quick):
        z = torch.randn(max(1, n // K), K, requires_grad=True)
        y = torch.randint(0, K, (z.shape[0],))
        out = torch.empty_like(z)

        def dann():
            return torch.autograd.grad(ops.domain_ce(z, y).loss, z)

        variants = dann_variants(dann) + [
            Variant("eager+acc", loss_backward(_torch_loss_and_accuracy, z, y)),
            Variant("compiled", loss_backward(torch_compiled, z, y)),
            Variant("copy", lambda: out.copy_(z.detach())),
        ]
        rows.append((n, measure(variants)))
    report(f"domain_ce fwd+bwd (K={K}, n = elements)", rows, next(iter(rows[0][1])))


if __name__ == "__main__":
    run()
