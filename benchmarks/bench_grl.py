"""GRL backward: dann's one-pass kernel at each CPU tier vs the textbook ``grad.neg() * λ`` eager and compiled,
and a copy (the memory bound: the kernel reads and writes the same bytes)."""
from __future__ import annotations

import torch

import dann_core.ops  # noqa: F401  (loads torch.ops.dann)
from benchmarks.common import Variant, compiled, dann_variants, measure, report, sizes
from benchmarks.textbook import textbook_grl_backward


def run(quick: bool = False) -> None:
    lam = torch.tensor(0.5)
    textbook_compiled = compiled(textbook_grl_backward)
    rows = []
    for n in sizes(quick):
        g = torch.randn(n)
        out = torch.empty_like(g)
        variants = dann_variants(lambda: torch.ops.dann.grl_backward.default(g, lam)) + [  # what backward calls
            Variant("eager", lambda: textbook_grl_backward(g, lam)),
            Variant("compiled", lambda: textbook_compiled(g, lam)),
            Variant("copy", lambda: out.copy_(g)),
        ]
        rows.append((n, measure(variants)))
    report("grl_backward", rows, next(iter(rows[0][1])))


if __name__ == "__main__":
    run()
