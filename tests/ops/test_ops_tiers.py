"""Every CPU SIMD tier against the reference: gradients and edge values at each tier this CPU runs (the
others skip, naming the CPU flags they need; test_ops_values.py runs every op sample at every tier),
and the tier API: DANN_CPU_CAPABILITY, set_cpu_capability, dann info."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch

from dann_core import ops
from dann_core.ops import dispatch, reference
from op_samples import HAS_EXT, KNOWN_TIERS, TOLERANCE, tier  # noqa: F401  (tier: a fixture)

DTYPES = (torch.float32, torch.float64, torch.bfloat16)


def _grads(fn, z, upstream):
    z = z.detach().clone().requires_grad_()
    out = fn(z)
    (grad,) = torch.autograd.grad(out, z, upstream)
    return out.detach(), grad


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", [7, 1023, 100003])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("labels", ["n_source", "tensor", "tensor+weight"])
def test_every_tier_domain_bce_gradient_with_nonunit_upstream(tier, dtype, n, reduction, labels):  # noqa: F811 (tier: the op_samples fixture imported above)
    g = torch.Generator().manual_seed(n)
    z = (torch.randn(n, generator=g) * 4).to(dtype)
    y = torch.randint(0, 2, (n,), generator=g)
    w = torch.rand(n, generator=g) if labels == "tensor+weight" else None
    target = n // 3 if labels == "n_source" else y
    upstream = (torch.rand(n if reduction == "none" else (), generator=g) + 0.5).to(dtype)

    def loss(t):
        return ops.domain_bce(t, target, weight=w, reduction=reduction).loss

    got = _grads(loss, z, upstream)
    with dispatch_mode("reference"):
        expected = _grads(loss, z, upstream)
    atol, rtol = TOLERANCE[dtype]
    for a, b in zip(got, expected):
        torch.testing.assert_close(a, b, atol=atol * max(1.0, float(b.abs().max())), rtol=rtol)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n,k", [(7, 3), (1023, 4), (4099, 2)])
def test_every_tier_domain_ce_and_reversal_gradients(tier, dtype, n, k):  # noqa: F811 (tier: the op_samples fixture imported above)
    g = torch.Generator().manual_seed(n)
    z = (torch.randn(n, k, generator=g) * 3).to(dtype)
    y = torch.randint(0, k, (n,), generator=g)
    lam = torch.tensor(0.37)
    upstream = (torch.rand((), generator=g) + 0.5).to(dtype)
    feature_upstream = torch.randn(n, k, generator=g).to(dtype)
    cases = [
        (lambda t: ops.domain_ce(t, y).loss, upstream),
        (lambda t: ops.grad_reverse(t, lam), feature_upstream),
        (lambda t: ops.split_reverse(t, n // 2, lam)[1], feature_upstream),
    ]
    atol, rtol = TOLERANCE[dtype]
    for fn, up in cases:
        got = _grads(fn, z, up)
        with dispatch_mode("reference"):
            expected = _grads(fn, z, up)
        for a, b in zip(got, expected):
            torch.testing.assert_close(a, b, atol=atol * max(1.0, float(b.abs().max())), rtol=rtol)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("labels", ["n_source", "tensor"])
def test_every_tier_keeps_nan_and_extreme_logits_like_the_reference(tier, dtype, labels):  # noqa: F811 (tier: the op_samples fixture imported above)
    """Large |z| (where e^-|z| underflows), NaN (which must reach the loss and its row's gradient),
    and zeros, spread over more rows than one vector so both the vector loop and the tail see them."""
    edge = torch.tensor([float("nan"), 1e4, -1e4, 88.0, -88.0, 87.5, -87.5, 30.0, -30.0, 0.0, -0.0, 1e-30])
    z = edge.repeat(7).to(dtype)
    y = torch.arange(z.numel()) % 2
    target = z.numel() // 2 if labels == "n_source" else y
    got = torch.ops.dann.domain_bce(z, *_label_args(target), None, "none")
    expected = reference.domain_bce(z, *_label_args(target), None, "none")
    atol, rtol = TOLERANCE[dtype]
    for a, b in zip(got[:2], expected[:2]):
        torch.testing.assert_close(a, b, atol=atol, rtol=rtol, equal_nan=True)
    assert int(got[2]) == int(expected[2])
    summed = torch.ops.dann.domain_bce(z, *_label_args(target), None, "sum")[0]
    assert torch.isnan(summed)


def _label_args(target):
    return (None, target) if isinstance(target, int) else (target, 0)


class dispatch_mode:
    """DANN_KERNELS for a block (the reference path runs no compiled kernel at all)."""

    def __init__(self, mode: str):
        self.mode = mode

    def __enter__(self):
        self.previous = dispatch.get_mode()
        dispatch.set_mode(self.mode)

    def __exit__(self, *exc):
        dispatch.set_mode(self.previous)


needs_ext = pytest.mark.skipif(not HAS_EXT, reason="dann_core._C is not built")


@needs_ext
def test_the_best_tier_is_the_default_and_the_tiers_are_ordered():
    tiers = dispatch.cpu_capabilities()
    assert list(tiers) == list(KNOWN_TIERS)
    runs = [name for name, missing in tiers.items() if not missing]
    assert runs == list(KNOWN_TIERS[: len(runs)]) and runs[0] == "default"
    assert dispatch.build_info()["cpu_capability_best"] == runs[-1]
    if not os.environ.get("DANN_CPU_CAPABILITY"):
        assert ops.cpu_capability() == runs[-1]


@needs_ext
def test_set_cpu_capability_rejects_unknown_and_unsupported_tiers_in_one_line():
    before = ops.cpu_capability()
    with pytest.raises(ValueError) as info:
        ops.set_cpu_capability("sse9")
    assert str(info.value).splitlines()[0] == (
        "cpu capability must be one of default, avx2, avx512, avx512_bf16; got 'sse9'")
    unsupported = [name for name, missing in dispatch.cpu_capabilities().items() if missing]
    if unsupported:
        with pytest.raises(ValueError) as info:
            ops.set_cpu_capability(unsupported[0])
        missing = ", ".join(dispatch.cpu_capabilities()[unsupported[0]])
        assert f"cpu capability {unsupported[0]} needs {missing}, which this CPU lacks" in str(info.value).splitlines()[0]
    assert ops.cpu_capability() == before


def _import_with(value: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "DANN_CPU_CAPABILITY": value}
    code = "import dann_core.ops as o; print(o.cpu_capability())"
    return subprocess.run([sys.executable, "-W", "always", "-c", code], env=env, capture_output=True, text=True,
                          check=True)


@needs_ext
def test_the_environment_lowers_the_tier_and_a_tier_above_the_cpu_warns_once_and_falls_back():
    best = dispatch.build_info()["cpu_capability_best"]
    lowered = _import_with("default")
    assert lowered.stdout.strip() == "default" and "DANN_CPU_CAPABILITY" not in lowered.stderr
    unsupported = [name for name, missing in dispatch.cpu_capabilities().items() if missing]
    asks = ["fast"] + unsupported[-1:]
    for value in asks:
        out = _import_with(value)
        assert out.stdout.strip() == best
        warnings = [line for line in out.stderr.splitlines() if "DANN_CPU_CAPABILITY" in line]
        assert len(warnings) == 1, out.stderr
        assert "RuntimeWarning" in warnings[0] and f"running {best}" in warnings[0]
        if value == "fast":
            assert "'fast' is not one of default, avx2, avx512, avx512_bf16" in warnings[0]
        else:
            assert "but this CPU lacks " + ", ".join(dispatch.cpu_capabilities()[value]) in warnings[0]


@needs_ext
def test_dann_info_shows_the_tier():
    from click.testing import CliRunner

    from dann_core.cli import build_cli

    out = CliRunner().invoke(build_cli(), ["info"], catch_exceptions=False).output
    line = next(line for line in out.splitlines() if line.startswith("cpu capability"))
    assert line.split()[2] == ops.cpu_capability() and "DANN_CPU_CAPABILITY" in line
