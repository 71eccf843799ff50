"""Domain BCE forward+backward (and domain accuracy): dann's fused op at each CPU tier vs torch's BCE-with-logits.

Baselines: ``F.binary_cross_entropy_with_logits`` + autograd backward ("eager"), the same plus the
domain accuracy a DANN user computes ("eager+acc"), torch.compile of the latter, a copy of the
logits' bytes (the memory bound), and ``autograd.grad(z.sum(), z)`` ("floor": the cheapest forward
+ backward autograd call there is). At a training batch's sizes (n ≤ 512) the time is mostly fixed
cost, so those rows also print each loss's cost above the floor.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from benchmarks.common import Variant, compiled, dann_variants, loss_backward, measure, report, sizes
from dann_core import ops

BATCH_SIZES = (128, 256, 512)


def _torch_loss_and_accuracy(z, y):
    return F.binary_cross_entropy_with_logits(z, y), ((z > 0).float() == y).sum()


def run(quick: bool = False) -> None:
    torch_compiled = compiled(_torch_loss_and_accuracy)
    rows = []
    for n in (BATCH_SIZES[1:2] if quick else BATCH_SIZES) + tuple(s for s in sizes(quick) if s > BATCH_SIZES[-1]):
        z = torch.randn(n, requires_grad=True)
        n_source = n // 2
        y = (torch.arange(n) >= n_source).float()
        out = torch.empty_like(z)

        def dann():
            return torch.autograd.grad(ops.domain_bce(z, n_source).loss, z)

        def eager():
            return torch.autograd.grad(F.binary_cross_entropy_with_logits(z, y), z)

        variants = dann_variants(dann) + [
            Variant("eager", eager),
            Variant("eager+acc", loss_backward(_torch_loss_and_accuracy, z, y)),
            Variant("compiled", loss_backward(torch_compiled, z, y)),
            Variant("copy", lambda: out.copy_(z.detach())),
            Variant("floor", lambda: torch.autograd.grad(z.sum(), z)),
        ]
        rows.append((n, measure(variants)))
    best = next(iter(rows[0][1]))
    report("domain_bce fwd+bwd", rows, best)
    for n, times in rows:
        if n <= BATCH_SIZES[-1]:
            above = {name: times[name] - times["floor"] for name in (best, "eager", "eager+acc")}
            print(f"  n={n}: cost above the floor (µs): " + ", ".join(f"{k} {v:.1f}" for k, v in above.items()))


if __name__ == "__main__":
    run()
