"""Reverse-and-merge: features used by the label head (first rows) and, through a GRL, the domain head.

dann's split_reverse does the whole backward in one op; the baselines are autograd over a slice and
the textbook GRL (neg, mul, then the slice's scatter and an add), eager and compiled. Forward+backward.
"""
from __future__ import annotations

import torch

from benchmarks.common import Variant, compiled, measure, report, sizes
from benchmarks.textbook import TextbookGRL
from dann_core import ops


def _textbook_split(features, n_label, lam):
    return features[:n_label], TextbookGRL.apply(features, lam)


def run(quick: bool = False) -> None:
    lam = torch.tensor(0.5)
    textbook_compiled = compiled(_textbook_split)
    rows = []
    for n in sizes(quick):
        cols = min(n, 128)
        n_rows = n // cols
        n_label = max(1, n_rows // 2)
        f = torch.randn(n_rows, cols, requires_grad=True)
        g_label, g_domain = torch.randn(n_label, cols), torch.randn(n_rows, cols)

        def backward_of(split):
            return lambda: torch.autograd.grad(split(f, n_label, lam), f, (g_label, g_domain))

        out = torch.empty_like(f)
        variants = [
            Variant("dann", backward_of(ops.split_reverse)),
            Variant("eager", backward_of(_textbook_split)),
            Variant("compiled", backward_of(textbook_compiled)),
            Variant("copy", lambda: out.copy_(g_domain)),
        ]
        rows.append((n, measure(variants)))
    report("split_reverse fwd+bwd", rows, "dann")


if __name__ == "__main__":
    run()
