"""Would a fused MK-MMD op pay? The multi-kernel MMD of ``dan`` (forward + backward) eager, compiled by
torch.compile (a stand-in for what fusing its ~20 element-wise kernels could reach), and, for scale,
the rest of a DAN step: LeNet forward + backward on the same batch (digits-blend's 28×28×3 inputs).

    python -m benchmarks.bench_mk_mmd [--quick] [--threads 1]

A fused op pays only if the compiled MMD is much faster than the eager one AND the eager MMD is a
sizeable share of the step; the printed ratios say both, measured side by side.
"""
from __future__ import annotations

import argparse

import torch

from benchmarks.common import Variant, compiled, measure, report
from dann_methods.dan import mk_mmd


def lenet_step(batch: int):
    from dann_backbones.lenet import LeNetBackbone  # the paper's digits extractor

    net = LeNetBackbone((3, 28, 28))
    head = torch.nn.Linear(net.out_features, 10)
    x, y = torch.randn(batch, 3, 28, 28), torch.randint(0, 10, (batch,))

    def call():
        loss = torch.nn.functional.cross_entropy(head(net(x)), y)
        return torch.autograd.grad(loss, list(net.parameters()))

    return call, net.out_features


def mmd_call(fn, source, target):
    def call():
        return torch.autograd.grad(fn(source, target), (source, target))

    return call


def run(quick: bool = False) -> None:
    fused_proxy = compiled(mk_mmd)
    rows = []
    for per_domain in ([64] if quick else [32, 64, 128]):
        step, width = lenet_step(2 * per_domain)
        source = torch.randn(per_domain, width, requires_grad=True)
        target = (torch.randn(per_domain, width) + 0.5).requires_grad_(True)
        rows.append((2 * per_domain, measure([
            Variant("eager", mmd_call(mk_mmd, source, target)),
            Variant("compiled", mmd_call(fused_proxy, source, target)),
            Variant("lenet_step", step),
        ])))
    report("mk_mmd fwd+bwd (n = rows of source + target; lenet_step = LeNet fwd+bwd on them)", rows, "eager")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1: least disturbed on a shared machine)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    run(args.quick)
