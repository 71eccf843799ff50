"""CUDA kernels of ``torch.ops.dann`` against the reference (``dann_core.ops.reference``, the one oracle),
both run on the same CUDA tensors.

Covered: values of every output over odd sizes (1, 7, 1023, 100003, 4M) and all four float dtypes
with per-dtype tolerances; λ on the CPU and on the GPU in several dtypes; non-contiguous and
misaligned inputs (the scalar path of the vectorised kernels); gradients through the public autograd
wrappers; bitwise determinism; bad-input errors; ``torch.library.opcheck``; ``torch.compile``.

Skipped as a whole where there is no GPU or the extension was built without CUDA kernels.
DANN_CUDA_TEST_DEVICE=cpu runs the same tests against the CPU kernels: a dry run of the tests' own
logic on a machine without a GPU (the CUDA-only tests skip then).
"""
from __future__ import annotations

import os

import pytest
import torch

DEV = os.environ.get("DANN_CUDA_TEST_DEVICE", "cuda")
if DEV == "cuda" and not torch.cuda.is_available():
    pytest.skip("needs a CUDA GPU", allow_module_level=True)

from dann_core import ops  # noqa: E402
from dann_core.ops import checks, dispatch, reference  # noqa: E402

if not dispatch.build_info().get("compiled") or (DEV == "cuda" and not dispatch.build_info().get("cuda")):
    pytest.skip("dann_core._C was built without CUDA kernels", allow_module_level=True)

pytestmark = pytest.mark.cuda
needs_cuda = pytest.mark.skipif(DEV != "cuda", reason="CUDA only")
DTYPES = (torch.float32, torch.float64, torch.bfloat16, torch.float16)
SIZES = (1, 7, 1023, 100003, 4 * 1024 * 1024)
BIG = 4 * 1024 * 1024
# (atol as a fraction of the largest expected magnitude, rtol). Both sides compute in float32
# (float64 for float64); the kernels use --use_fast_math's exp/log and another summation order,
# and a 16-bit result may round one ulp the other way.
TOL = {
    torch.float32: (1e-5, 1e-5),
    torch.float64: (1e-12, 1e-10),
    torch.bfloat16: (1e-2, 1.6e-2),
    torch.float16: (1e-3, 1e-3),
}


def _name(dtype: torch.dtype) -> str:
    return str(dtype).split(".")[-1]


def assert_matches(got, expected, dtype, exact_elementwise=False):
    """Every output: same shape, dtype and device; int64 counts exactly equal; floats within TOL."""
    got = got if isinstance(got, tuple) else (got,)
    expected = expected if isinstance(expected, tuple) else (expected,)
    assert len(got) == len(expected)
    atol_frac, rtol = TOL[dtype]
    for g, e in zip(got, expected):
        assert g.shape == e.shape and g.dtype == e.dtype and g.device == e.device, (g.shape, e.shape, g.dtype, e.dtype)
        assert g.is_contiguous()
        if not g.is_floating_point():
            assert torch.equal(g, e), (g, e)
            continue
        if exact_elementwise and dtype != torch.float32 and DEV == "cuda":
            # Same float arithmetic then the same rounding: identical (float32 may differ only where
            # --use_fast_math flushes a denormal result to zero). The CPU kernels may fuse into FMAs.
            torch.testing.assert_close(g, e, atol=0, rtol=0)
            continue
        scale = float(e.abs().nan_to_num(0.0, 0.0, 0.0).max()) if e.numel() else 1.0
        floor = 2.0**-24 if g.dtype == torch.float16 else float(torch.finfo(g.dtype).tiny)
        torch.testing.assert_close(g, e, atol=max(atol_frac * scale, floor), rtol=rtol, equal_nan=True)


def _gen(seed):
    return torch.Generator(device=DEV).manual_seed(seed)


def randn(*shape, dtype, g, scale=3.0):
    return (torch.randn(*shape, generator=g, device=DEV, dtype=torch.float32) * scale).to(dtype)


def strided(t: torch.Tensor) -> torch.Tensor:
    """The same values in a non-contiguous layout (every other element of a wider buffer)."""
    buf = torch.empty(*t.shape[:-1], t.shape[-1] * 2, dtype=t.dtype, device=t.device) if t.dim() else None
    buf[..., ::2] = t
    out = buf[..., ::2]
    assert not out.is_contiguous() or t.numel() <= 1
    return out


def misaligned(t: torch.Tensor) -> torch.Tensor:
    """A contiguous copy of ``t`` whose data pointer is one element past a 16-byte boundary."""
    flat = torch.empty(t.numel() + 1, dtype=t.dtype, device=t.device)
    out = flat[1:].view(t.shape)
    out.copy_(t)
    assert out.is_contiguous() and (t.numel() == 0 or out.data_ptr() % 16 != 0)
    return out


def lambdas(dtype):
    """λ as the ops accept it: on the CPU (read on the host) or on the GPU (read by the kernel)."""
    yield "cpu-f32", torch.tensor(0.37)
    yield "cpu-f64", torch.tensor(0.37, dtype=torch.float64)
    yield "gpu-f32", torch.tensor(0.37, device=DEV)
    yield "gpu-bf16", torch.tensor(0.37, device=DEV, dtype=torch.bfloat16)
    yield "gpu-same", torch.tensor(0.37, device=DEV, dtype=dtype)


CASES = [(d, n) for d in DTYPES for n in SIZES]
CASE_IDS = [f"{_name(d)}-n{n}" for d, n in CASES]


# --- values ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype,n", CASES, ids=CASE_IDS)
def test_grl_backward(dtype, n):
    g = _gen(n)
    grad = randn(n, 3, dtype=dtype, g=g) if n < BIG else randn(n, dtype=dtype, g=g)
    for _, lam in lambdas(dtype):
        for layout in (grad, strided(grad), misaligned(grad)):
            got = torch.ops.dann.grl_backward(layout, lam)
            assert_matches(got, reference.grl_backward(layout, lam), dtype, exact_elementwise=True)


@pytest.mark.parametrize("dtype,n", CASES, ids=CASE_IDS)
def test_split_reverse_backward(dtype, n):
    g = _gen(n + 1)
    cols = 3 if n < BIG else 1
    grad_domain = randn(n, cols, dtype=dtype, g=g)
    for n_label in sorted({0, n // 2, n // 3 + 1, n} & set(range(n + 1))):
        grad_label = randn(n_label, cols, dtype=dtype, g=g)
        for lam_name, lam in lambdas(dtype):
            variants = [(grad_label, grad_domain), (None, grad_domain)]
            if lam_name == "cpu-f32":  # layouts once: they change the kernel's path, not λ's
                variants += [
                    (strided(grad_label), strided(grad_domain)),
                    (misaligned(grad_label), grad_domain),
                    (grad_label, misaligned(grad_domain)),
                ]
            for gl, gd in variants:
                got = torch.ops.dann.split_reverse_backward(gl, gd, n_label, lam)
                expected = reference.split_reverse_backward(gl, gd, n_label, lam)
                assert_matches(got, expected, dtype, exact_elementwise=True)


def test_split_reverse_backward_label_grad_of_another_dtype():
    g = _gen(3)
    gd = randn(37, 5, dtype=torch.bfloat16, g=g)
    gl = randn(20, 5, dtype=torch.float32, g=g)
    lam = torch.tensor(0.5)
    got = torch.ops.dann.split_reverse_backward(gl, gd, 20, lam)
    assert_matches(got, reference.split_reverse_backward(gl, gd, 20, lam), torch.bfloat16)


def _bce_inputs(n, dtype, seed):
    g = _gen(seed)
    logits = randn(n, dtype=dtype, g=g)
    labels = torch.randint(0, 2, (n,), generator=g, device=DEV)
    weight = torch.rand(n, generator=g, device=DEV)
    return logits, labels, weight


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("dtype,n", CASES, ids=CASE_IDS)
def test_domain_bce(dtype, n, reduction):
    logits, labels, weight = _bce_inputs(n, dtype, seed=n)
    samples = [
        (logits, None, n // 3, None),
        (logits, None, 0, None),
        (logits, None, n, weight.to(dtype)),
        (logits, labels, 0, weight),
        (logits[:, None], labels.bool()[:, None], 0, None),
        (strided(logits), strided(labels.float()), 0, strided(weight.double())),
        (misaligned(logits), labels.to(torch.uint8), 0, weight.half()),
        (logits, labels.to(torch.int32), 0, weight.bfloat16()),
        (logits, labels.to(dtype), 0, None),
    ]
    for args in samples:
        got = torch.ops.dann.domain_bce(*args, reduction)
        assert_matches(got, reference.domain_bce(*args, reduction), dtype)


def test_domain_bce_huge_logits_stay_finite():
    z = torch.tensor([1e4, -1e4, 80.0, -80.0, 0.0], device=DEV)
    y = torch.tensor([1, 0, 0, 1, 1], device=DEV)
    loss, grad, correct = torch.ops.dann.domain_bce(z, y, 0, None, "none")
    torch.testing.assert_close(loss, torch.tensor([0.0, 0.0, 80.0, 80.0, 0.6931472], device=DEV))
    assert torch.isfinite(grad).all() and int(correct) == 2


@pytest.mark.parametrize("k", [1, 2, 3, 8, 9, 10, 64, 65, 1000])
@pytest.mark.parametrize("dtype", DTYPES, ids=_name)
def test_domain_ce_every_k(dtype, k):
    g = _gen(k)
    n = 1023
    z = randn(n, k, dtype=dtype, g=g)
    y = torch.randint(0, k, (n,), generator=g, device=DEV)
    w = torch.rand(n, generator=g, device=DEV)
    for reduction in ("mean", "sum", "none"):
        for args in [(z, y, None), (z, y.int(), w), (strided(z), y.to(torch.uint8) if k < 256 else y, w.to(dtype))]:
            got = torch.ops.dann.domain_ce(*args, reduction)
            assert_matches(got, reference.domain_ce(*args, reduction), dtype)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("dtype,n", CASES, ids=CASE_IDS)
def test_domain_ce(dtype, n, reduction):
    g = _gen(n)
    for k in (2, 4, 10) if n < BIG else (4,):
        z = randn(n, k, dtype=dtype, g=g)
        y = torch.randint(0, k, (n,), generator=g, device=DEV)
        w = torch.rand(n, generator=g, device=DEV)
        for args in [(z, y, None), (z.t().contiguous().t(), y.to(torch.int16), w), (misaligned(z), strided(y), None)]:
            got = torch.ops.dann.domain_ce(*args, reduction)
            assert_matches(got, reference.domain_ce(*args, reduction), dtype)


def test_domain_ce_ties_nan_and_inf_follow_argmax():
    z = torch.tensor(
        [[1.0, 1.0, 0.0], [0.0, 2.0, 2.0], [float("nan"), 5.0, float("nan")], [-float("inf"), 0.0, 0.0]], device=DEV
    )
    y = torch.tensor([0, 1, 0, 2], device=DEV)
    got = torch.ops.dann.domain_ce(z, y, None, "none")
    expected = reference.domain_ce(z, y, None, "none")
    torch.testing.assert_close(got[0], expected[0], equal_nan=True)
    torch.testing.assert_close(got[1], expected[1], equal_nan=True)
    assert int(got[2]) == int(expected[2]) == 3


@pytest.mark.parametrize("dtype", DTYPES, ids=_name)
@pytest.mark.parametrize("shape", [(1, 5), (7, 5), (4, 33, 5), (1023, 5)], ids=str)
def test_grl_linear_backward(dtype, shape):
    g = _gen(len(shape))
    x = randn(*shape, dtype=dtype, g=g, scale=1.0)
    w = randn(9, shape[-1], dtype=dtype, g=g, scale=1.0)
    grad = randn(*shape[:-1], 9, dtype=dtype, g=g, scale=1.0)
    tall_w = randn(9, 700, dtype=dtype, g=g, scale=1.0)  # W larger than g: the GPU-λ path scales g
    tall_x = randn(*shape[:-1], 700, dtype=dtype, g=g, scale=1.0)
    for _, lam in lambdas(dtype):
        for args in [(grad, x, w, lam), (strided(grad), strided(x), w, lam), (grad, tall_x, tall_w, lam)]:
            got = torch.ops.dann.grl_linear_backward(*args)
            assert_matches(got, reference.grl_linear_backward(*args), dtype)


# --- gradients through the public ops (autograd) ---------------------------------------------------


@pytest.fixture
def ext_mode():
    mode = dispatch.get_mode()
    dispatch.set_mode("ext")
    yield
    dispatch.set_mode(mode)


@pytest.mark.parametrize("dtype", DTYPES, ids=_name)
def test_autograd_grad_reverse_and_split(ext_mode, dtype):
    g = _gen(5)
    x = randn(1023, 7, dtype=dtype, g=g).requires_grad_()
    up = randn(1023, 7, dtype=dtype, g=g)
    lam = torch.tensor(0.8, device=DEV)
    ops.grad_reverse(x, lam).backward(up)
    assert_matches(x.grad, reference.grl_backward(up, lam), dtype)

    x.grad = None
    lab, dom = ops.split_reverse(x, 300, lam)
    up_lab = randn(300, 7, dtype=dtype, g=g)
    torch.autograd.backward([lab, dom], [up_lab, up])
    assert_matches(x.grad, reference.split_reverse_backward(up_lab, up, 300, lam), dtype)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("dtype", DTYPES, ids=_name)
def test_autograd_losses(ext_mode, dtype, reduction):
    n = 1023
    logits, labels, weight = _bce_inputs(n, dtype, seed=11)
    z = logits.clone().requires_grad_()
    out = ops.domain_bce(z, labels, weight, reduction)
    up = torch.rand(out.loss.shape, device=DEV, dtype=dtype) + 0.5  # a non-unit upstream gradient
    out.loss.backward(up)
    _, grad, correct = reference.domain_bce(logits, labels, 0, weight, reduction)
    assert_matches((z.grad, out.n_correct), (grad * (up[:] if reduction == "none" else up), correct), dtype)

    zc = randn(n, 5, dtype=dtype, g=_gen(12))
    y = torch.randint(0, 5, (n,), device=DEV)
    zz = zc.clone().requires_grad_()
    out = ops.domain_ce(zz, y, weight, reduction)
    up = torch.rand(out.loss.shape, device=DEV, dtype=dtype) + 0.5
    out.loss.backward(up)
    _, grad, correct = reference.domain_ce(zc, y, weight, reduction)
    expected = grad * (up[:, None] if reduction == "none" else up)
    assert_matches((zz.grad, out.n_correct), (expected, correct), dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=_name)
def test_autograd_grl_linear(ext_mode, dtype):
    g = _gen(13)
    x = randn(64, 33, dtype=dtype, g=g, scale=1.0).requires_grad_()
    w = randn(10, 33, dtype=dtype, g=g, scale=1.0).requires_grad_()
    b = randn(10, dtype=dtype, g=g, scale=1.0).requires_grad_()
    up = randn(64, 10, dtype=dtype, g=g, scale=1.0)
    for lam in (torch.tensor(0.6), torch.tensor(0.6, device=DEV)):
        for t in (x, w, b):
            t.grad = None
        ops.grl_linear(x, w, b, lam).backward(up)
        gx, gw, gb = reference.grl_linear_backward(up, x.detach(), w.detach(), lam)
        assert_matches((x.grad, w.grad, b.grad), (gx, gw, gb), dtype)


def test_gradcheck_losses_in_float64():
    z = torch.randn(13, device=DEV, dtype=torch.float64, requires_grad=True)
    w = torch.rand(13, device=DEV, dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda t: torch.ops.dann.domain_bce(t, None, 5, w, "mean")[0], (z,))
    assert torch.autograd.gradcheck(lambda t: torch.ops.dann.domain_bce(t, None, 5, None, "none")[0], (z,))
    zc = torch.randn(13, 4, device=DEV, dtype=torch.float64, requires_grad=True)
    y = torch.randint(0, 4, (13,), device=DEV)
    assert torch.autograd.gradcheck(lambda t: torch.ops.dann.domain_ce(t, y, w, "sum")[0], (zc,))


# --- determinism ----------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES, ids=_name)
def test_bitwise_deterministic(dtype):
    logits, labels, weight = _bce_inputs(BIG, dtype, seed=21)
    zc = randn(BIG // 4, 10, dtype=dtype, g=_gen(22))
    y = torch.randint(0, 10, (BIG // 4,), device=DEV)
    lam = torch.tensor(0.3, device=DEV)
    calls = [
        lambda: torch.ops.dann.grl_backward(logits, lam),
        lambda: torch.ops.dann.split_reverse_backward(logits[: BIG // 3], logits, BIG // 3, lam),
        lambda: torch.ops.dann.domain_bce(logits, None, BIG // 2, weight, "sum"),
        lambda: torch.ops.dann.domain_bce(logits, labels, 0, None, "mean"),
        lambda: torch.ops.dann.domain_ce(zc, y, weight[: BIG // 4], "mean"),
        lambda: torch.ops.dann.domain_ce(zc[:, :3].contiguous(), y % 3, None, "sum"),
    ]
    for call in calls:
        first, second = call(), call()
        first = first if isinstance(first, tuple) else (first,)
        second = second if isinstance(second, tuple) else (second,)
        for a, b in zip(first, second):
            assert torch.equal(a, b)


# --- errors ---------------------------------------------------------------------------------------


def _t(*values, dtype=None):
    return torch.tensor(values, device=DEV, dtype=dtype)


BAD_INPUTS = [
    ("grl_backward", lambda: (torch.ones(3, device=DEV), torch.ones(2)), ValueError, "lambd must be a 0-dim tensor"),
    ("grl_backward", lambda: (torch.ones(3, device=DEV), torch.tensor(1)), TypeError,
     "lambd must be a floating-point tensor"),
    ("split_reverse_backward", lambda: (None, torch.ones(4, 2, device=DEV), 5, torch.tensor(1.0)), ValueError,
     "n_label_rows must be in [0, 4]"),
    ("split_reverse_backward", lambda: (torch.ones(3, 2, device=DEV), torch.ones(4, 2, device=DEV), 2,
                                        torch.tensor(1.0)), ValueError, "grad_label must have shape (2, 2), got (3, 2)"),
    ("domain_bce", lambda: (torch.ones(4, device=DEV), torch.ones(3, device=DEV), 0, None, "mean"), ValueError,
     "labels must have 4 entries"),
    ("domain_bce", lambda: (torch.ones(4, device=DEV), _t(0, 1, 2, 0), 0, None, "mean"), ValueError,
     checks.BINARY_LABELS_MSG),
    ("domain_bce", lambda: (torch.ones(4, device=DEV), _t(0.0, 1.0, 0.5, 0.0), 0, None, "sum"), ValueError,
     checks.BINARY_LABELS_MSG),
    ("domain_bce", lambda: (torch.ones(4, device=DEV), _t(0.0, float("nan"), 1.0, 0.0), 0, None, "none"), ValueError,
     checks.BINARY_LABELS_MSG),
    ("domain_bce", lambda: (torch.ones(4, device=DEV), _t(0, 1, -1, 0, dtype=torch.int8), 0, None, "mean"),
     ValueError, checks.BINARY_LABELS_MSG),
    ("domain_bce", lambda: (torch.ones(4, device=DEV), _t(0, 1, 2**53 + 1, 0), 0, None, "mean"), ValueError,
     checks.BINARY_LABELS_MSG),
    ("domain_bce", lambda: (torch.ones(0, device=DEV), None, 0, None, "mean"), ValueError, "logits is empty"),
    ("domain_bce", lambda: (torch.ones(4, device=DEV, dtype=torch.long), None, 2, None, "mean"), TypeError,
     "logits must be float32"),
    ("domain_bce", lambda: (torch.ones(4, 2, device=DEV), None, 2, None, "mean"), ValueError,
     "logits must have shape (N,) or (N, 1)"),
    ("domain_bce", lambda: (torch.ones(4, device=DEV), None, 5, None, "mean"), ValueError, "n_source must be in [0, 4]"),
    ("domain_bce", lambda: (torch.ones(4, device=DEV), None, 2, torch.ones(3, device=DEV), "mean"), ValueError,
     "weight must have shape (4,)"),
    pytest.param("domain_bce", lambda: (torch.ones(4, device=DEV), None, 2, torch.ones(4), "mean"), ValueError,
                 "weight is on cpu but logits are on cuda", marks=needs_cuda),
    ("domain_bce", lambda: (torch.ones(4, device=DEV), None, 2, None, "avg"), ValueError,
     "reduction must be one of none, mean, sum"),
    ("domain_ce", lambda: (torch.ones(4, 3, device=DEV), _t(0, 1, 3, 0), None, "mean"), ValueError,
     checks.class_labels_msg(3)),
    ("domain_ce", lambda: (torch.ones(4, 3, device=DEV), _t(0, -1, 2, 0, dtype=torch.int32), None, "sum"), ValueError,
     checks.class_labels_msg(3)),
    ("domain_ce", lambda: (torch.ones(4, 3, device=DEV), torch.zeros(4, device=DEV), None, "mean"), TypeError,
     "labels must be an integer tensor"),
    ("domain_ce", lambda: (torch.ones(4, device=DEV), torch.zeros(4, device=DEV, dtype=torch.long), None, "mean"),
     ValueError, "logits must have shape (N, K)"),
    ("domain_ce", lambda: (torch.ones(0, 2, device=DEV), torch.zeros(0, device=DEV, dtype=torch.long), None, "mean"),
     ValueError, "logits is empty"),
]


@pytest.mark.parametrize("op,make_args,error,message", BAD_INPUTS, ids=[f"{getattr(b, 'values', b)[0]}-{i}" for i, b in enumerate(BAD_INPUTS)])
def test_bad_input_raises_like_the_reference(op, make_args, error, message):
    args = make_args()
    for fn in (getattr(torch.ops.dann, op), getattr(reference, op)):
        with pytest.raises(error) as info:
            fn(*args)
        assert message in str(info.value).splitlines()[0]
    # A rejected call leaves no state behind: a valid call right after works.
    out = torch.ops.dann.domain_bce(torch.ones(4, device=DEV), _t(0, 1, 1, 0), 0, None, "mean")
    assert int(out[2]) == 2


@needs_cuda
def test_lambda_on_another_gpu_is_rejected():
    if torch.cuda.device_count() < 2:
        pytest.skip("needs two GPUs")
    with pytest.raises(ValueError, match="lambd is on cuda:1"):
        torch.ops.dann.grl_backward(torch.ones(3, device="cuda:0"), torch.tensor(1.0, device="cuda:1"))


def test_empty_tensors():
    lam = torch.tensor(0.5, device=DEV)
    assert torch.ops.dann.grl_backward(torch.ones(0, 3, device=DEV), lam).shape == (0, 3)
    assert torch.ops.dann.split_reverse_backward(None, torch.ones(0, 3, device=DEV), 0, lam).shape == (0, 3)
    gx, gw, gb = torch.ops.dann.grl_linear_backward(
        torch.ones(0, 4, device=DEV), torch.ones(0, 6, device=DEV), torch.ones(4, 6, device=DEV), lam
    )
    assert gx.shape == (0, 6) and torch.equal(gw, torch.zeros(4, 6, device=DEV)) and torch.equal(gb, torch.zeros(4, device=DEV))


@needs_cuda
def test_other_device_and_stream():
    """Kernels run on the tensor's device and the current stream."""
    dev = torch.device("cuda", torch.cuda.device_count() - 1)
    x = torch.randn(100003, device=dev)
    s = torch.cuda.Stream(device=dev)
    s.wait_stream(torch.cuda.current_stream(dev))
    with torch.cuda.stream(s):
        got = torch.ops.dann.domain_bce(x, None, 500, None, "sum")
    s.synchronize()
    assert_matches(got, reference.domain_bce(x, None, 500, None, "sum"), torch.float32)


# --- opcheck and torch.compile --------------------------------------------------------------------


def _opcheck_samples():
    g = _gen(31)
    lam_cpu, lam_gpu = torch.tensor(0.4), torch.tensor(0.4, device=DEV)
    for dtype in (torch.float32, torch.bfloat16):
        x = randn(37, 3, dtype=dtype, g=g)
        yield "grl_backward", (x, lam_cpu)
        yield "grl_backward", (x, lam_gpu)
        yield "split_reverse_backward", (randn(20, 3, dtype=dtype, g=g), x, 20, lam_gpu)
        yield "split_reverse_backward", (None, x, 5, lam_cpu)
        z = randn(37, dtype=dtype, g=g).requires_grad_()
        yield "domain_bce", (z, None, 11, None, "mean")
        yield "domain_bce", (z, torch.randint(0, 2, (37,), device=DEV), 0, torch.rand(37, device=DEV), "none")
        zc = randn(37, 4, dtype=dtype, g=g).requires_grad_()
        yield "domain_ce", (zc, torch.randint(0, 4, (37,), device=DEV), None, "sum")
        yield "grl_linear_backward", (randn(37, 4, dtype=dtype, g=g), randn(37, 6, dtype=dtype, g=g),
                                      randn(4, 6, dtype=dtype, g=g), lam_cpu)


@pytest.mark.parametrize("op,args", list(_opcheck_samples()), ids=lambda v: v if isinstance(v, str) else "")
def test_opcheck(op, args):
    torch.library.opcheck(getattr(torch.ops.dann, op), args)


def test_torch_compile_fullgraph():
    torch._dynamo.reset()

    @torch.compile(fullgraph=True)
    def step(z, g, lam):
        loss, grad, correct = torch.ops.dann.domain_bce(z, None, 16, None, "mean")
        return loss, grad, correct, torch.ops.dann.grl_backward(g, lam)

    z = torch.randn(40, device=DEV)
    g = torch.randn(40, 8, device=DEV)
    for lam_value in (0.1, 0.9):  # a new λ value is a new tensor, not a recompile
        lam = torch.tensor(lam_value, device=DEV)
        got = step(z, g, lam)
        expected = (*reference.domain_bce(z, None, 16, None, "mean"), reference.grl_backward(g, lam))
        assert_matches(got, expected, torch.float32)
