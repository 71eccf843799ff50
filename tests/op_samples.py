"""Sample inputs for every dann op, shared by the op tests (the Liger / extension-cpp table style).

Each sample is the op name plus the positional arguments of the ``torch.ops.dann`` schema, which the
reference in ``dann_core.ops.reference`` takes too.
"""
from __future__ import annotations

from dataclasses import dataclass

import pytest
import torch

from dann_core.ops import dispatch

# Below a vector, a vector and a tail (8, 16 or 32 lanes), a 4096-row chunk and a tail, many chunks.
SIZES = (1, 7, 33, 4099, 100003)
DTYPES = (torch.float32, torch.float64, torch.bfloat16, torch.float16)
# (atol, rtol) per dtype for kernel vs reference: both compute in float32 (float64 for float64),
# so the differences are the order of summation and the final rounding.
TOLERANCE = {
    torch.float32: (1e-5, 1e-5),
    torch.float64: (1e-12, 1e-12),
    torch.bfloat16: (1e-2, 1.6e-2),
    torch.float16: (1e-3, 1e-3),
}

HAS_EXT = dispatch.build_info()["compiled"]
needs_ext = pytest.mark.skipif(not HAS_EXT, reason="dann_core._C is not built")
KNOWN_TIERS = ("default", "avx2", "avx512", "avx512_bf16")
TIERS = list(dispatch.cpu_capabilities()) if HAS_EXT else list(KNOWN_TIERS)


@pytest.fixture(params=TIERS)
def tier(request):
    """Runs the test at each CPU SIMD tier of the build; a tier this CPU lacks skips, naming the flags."""
    if not HAS_EXT:
        pytest.skip("dann_core._C is not built")
    missing = dispatch.cpu_capabilities()[request.param]
    if missing:
        pytest.skip(f"this CPU lacks {', '.join(missing)} (needed by the {request.param} tier)")
    with dispatch.using_cpu_capability(request.param):
        yield request.param


@dataclass
class Sample:
    op: str
    args: tuple
    note: str

    def __repr__(self) -> str:
        return f"{self.op}[{self.note}]"


def _noncontiguous(t: torch.Tensor) -> torch.Tensor:
    """The same values as ``t`` in a non-contiguous layout."""
    if t.dim() < 2:
        return torch.stack([t, t], dim=-1)[..., 0]
    return t.t().contiguous().t()


def samples(dtypes=DTYPES, sizes=SIZES, device="cpu", seed=0):
    g = torch.Generator().manual_seed(seed)

    def randn(*shape, dtype):
        return (torch.randn(*shape, generator=g) * 3).to(dtype=dtype, device=device)

    for dtype in dtypes:
        for n in sizes:
            lam = torch.tensor(0.37, dtype=torch.float32)
            tag = f"{str(dtype).split('.')[-1]}-n{n}"
            grad = randn(n, 3, dtype=dtype)
            yield Sample("grl_backward", (grad, lam), tag)
            yield Sample("grl_backward", (_noncontiguous(grad), lam.double()), tag + "-strided")
            n_label = n // 2
            yield Sample("split_reverse_backward", (randn(n_label, 3, dtype=dtype), grad, n_label, lam), tag)
            yield Sample("split_reverse_backward", (None, grad, n_label, lam), tag + "-nolabel")
            logits = randn(n, dtype=dtype)
            labels = torch.randint(0, 2, (n,), generator=g).to(device)
            weight = torch.rand(n, generator=g).to(device)
            for reduction in ("mean", "sum", "none"):
                yield Sample("domain_bce", (logits, None, n // 3, None, reduction), f"{tag}-nsource-{reduction}")
                yield Sample("domain_bce", (logits, labels, 0, weight, reduction), f"{tag}-labels-w-{reduction}")
            yield Sample("domain_bce", (logits[:, None], labels.bool()[:, None], 0, None, "mean"), tag + "-Nx1-bool")
            yield Sample("domain_bce", (_noncontiguous(logits), labels.float(), 0, None, "mean"), tag + "-strided")
            for k in (1, 3, 10):
                z = randn(n, k, dtype=dtype)
                y = torch.randint(0, k, (n,), generator=g).to(device)
                yield Sample("domain_ce", (z, y, None, "mean"), f"{tag}-k{k}")
                yield Sample("domain_ce", (_noncontiguous(z), y.int(), weight, "none"), f"{tag}-k{k}-strided-w")
            if n <= 1023 and dtype != torch.float16:  # half GEMMs on the CPU are slow and need nothing new
                x = randn(n, 6, dtype=dtype)
                w = randn(4, 6, dtype=dtype)
                yield Sample("grl_linear_backward", (randn(n, 4, dtype=dtype), x, w, lam), tag)


def sample_dtype(sample: Sample) -> torch.dtype:
    """The floating dtype a sample's tolerance is chosen by."""
    if sample.op == "grl_linear_backward":
        return sample.args[1].dtype
    return next(a for a in sample.args if isinstance(a, torch.Tensor) and a.is_floating_point() and a.dim() > 0).dtype


def assert_same(got, expected, dtype: torch.dtype) -> None:
    """A kernel's outputs against the reference's, within ``TOLERANCE[dtype]`` scaled by the largest value."""
    atol, rtol = TOLERANCE[dtype]
    got = got if isinstance(got, tuple) else (got,)
    expected = expected if isinstance(expected, tuple) else (expected,)
    assert len(got) == len(expected)
    for g, e in zip(got, expected):
        assert g.shape == e.shape and g.dtype == e.dtype, (g.shape, e.shape, g.dtype, e.dtype)
        if g.dtype == torch.int64:  # domain accuracy counts: exact, except where a logit rounds to 0
            assert abs(int(g) - int(e)) <= (0 if dtype in (torch.float32, torch.float64) else 2)
        else:
            scale = max(1.0, float(e.abs().max()) if e.numel() else 1.0)
            torch.testing.assert_close(g, e, atol=atol * scale, rtol=rtol)
