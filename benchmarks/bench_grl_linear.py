"""The discriminator's first layer behind a GRL: dann's grl_linear (−λ folded into the input-gradient
GEMM) vs ``F.linear(TextbookGRL(x))`` eager, forward+backward. Sizes are rows × 256 features → 100."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from benchmarks.common import Variant, measure, report
from benchmarks.textbook import TextbookGRL
from dann_core import ops

IN_FEATURES, OUT_FEATURES = 256, 100


def run(quick: bool = False) -> None:
    lam = torch.tensor(0.5)
    w = torch.randn(OUT_FEATURES, IN_FEATURES, requires_grad=True)
    b = torch.randn(OUT_FEATURES, requires_grad=True)
    rows = []
    for n_rows in [64, 256, 2048] if quick else [64, 256, 2048, 16384]:
        x = torch.randn(n_rows, IN_FEATURES, requires_grad=True)
        g = torch.randn(n_rows, OUT_FEATURES)

        def dann():
            return torch.autograd.grad(ops.grl_linear(x, w, b, lam), (x, w, b), g)

        def eager():
            return torch.autograd.grad(F.linear(TextbookGRL.apply(x, lam), w, b), (x, w, b), g)

        rows.append((n_rows * IN_FEATURES, measure([Variant("dann", dann), Variant("eager", eager)])))
    report("grl_linear fwd+bwd (n = input elements)", rows, "dann")


if __name__ == "__main__":
    run()
