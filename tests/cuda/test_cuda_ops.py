"""CUDA kernels of ``torch.ops.dann`` against the reference (``dann_core.ops.reference``, the one oracle),
both run on the same CUDA tensors.

Covered: values of every output over odd sizes (1, 7, 1023, 100003, 4M, 2^24 + 3, and 2^31 + 13 where
the GPU has the memory) and all four float dtypes, bit for bit where the maths is exact (GRL, split)
and with per-dtype tolerances elsewhere; λ on the GPU, pinned and pageable on the CPU, in several
dtypes; non-contiguous and misaligned inputs (the scalar path of the vectorised kernels); gradients
through the public autograd wrappers; bitwise determinism; bad-input errors (bad labels reported by
the next call); the current stream and its ordering; the device guard (two GPUs); CUDA graph capture
and replay with λ changed between replays; no host sync (``torch.cuda.set_sync_debug_mode``);
``torch.library.opcheck``; ``torch.compile``, also mode="reduce-overhead" over a whole DANN step.

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


@pytest.fixture(autouse=True)
def no_pending_label_error():
    """A bad label found by a CUDA kernel is raised later; no test may leave one behind."""
    yield
    if DEV == "cuda":
        torch.cuda.synchronize()
        dispatch._C.raise_pending_label_errors()
DTYPES = (torch.float32, torch.float64, torch.bfloat16, torch.float16)
SIZES = (1, 7, 1023, 100003, 4 * 1024 * 1024)
BIG = 4 * 1024 * 1024
# (atol as a fraction of the largest expected magnitude, rtol). Both sides compute in float32
# (float64 for float64), but exp/log come from different libraries, the sums run in another order,
# and a 16-bit result may then round one ulp the other way.
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
        if exact_elementwise and DEV == "cuda":
            # One correctly rounded multiply (and add) in the same compute dtype, then the same
            # rounding: identical bits (no --use_fast_math). The CPU kernels may fuse into FMAs.
            torch.testing.assert_close(g, e, atol=0, rtol=0, equal_nan=True)
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
    """λ as the ops accept it: on the GPU or pinned (read on the device), or pageable on the CPU."""
    yield "cpu-f32", torch.tensor(0.37)
    yield "cpu-f64", torch.tensor(0.37, dtype=torch.float64)
    if DEV == "cuda":
        yield "pinned-f32", torch.tensor(0.37).pin_memory()
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
    fns = [getattr(torch.ops.dann, op), getattr(reference, op)]
    if DEV == "cuda" and (message == checks.BINARY_LABELS_MSG or message.startswith("domain_ce: labels must be integers")):
        # Label values are checked on the device without a sync: the call gives NaNs and the next
        # loss call on the device raises.
        out = fns.pop(0)(*args)
        torch.cuda.synchronize()
        assert bool(out[0].isnan().any()) and bool(out[1].isnan().any())
        with pytest.raises(error) as info:
            torch.ops.dann.domain_bce(torch.ones(4, device=DEV), None, 2, None, "mean")
        assert message in str(info.value).splitlines()[0]
    for fn in fns:
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


# --- streams, device guard, CUDA graphs, host syncs ----------------------------------------------


def _every_op(x, lam):
    """Every op on (views of) a 1-D tensor x of 2^20 elements: a list of output tensors."""
    m = x.view(-1, 16)
    return [
        torch.ops.dann.grl_backward(x, lam),
        torch.ops.dann.split_reverse_backward(x[:999], x, 999, lam),
        *torch.ops.dann.domain_bce(x, None, 7, None, "sum"),
        *torch.ops.dann.domain_bce(x, (x > 0).float(), 0, None, "mean"),
        *torch.ops.dann.domain_ce(m, m.argmin(1), None, "sum"),
        *torch.ops.dann.grl_linear_backward(m, m[:, :8], x[:128].view(16, 8), lam),
    ]


EXACT = (0, 1)  # outputs of _every_op computed elementwise: equal bit for bit


def _assert_same(got, want):
    for i, (a, b) in enumerate(zip(got, want)):
        assert a.device == b.device
        if i in EXACT or not a.is_floating_point():
            assert torch.equal(a, b), i
        else:
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


SLEEP_CYCLES = 200_000_000  # ~0.1 s of GPU clock: far longer than the launches it holds back


@needs_cuda
def test_ops_run_on_the_current_stream_in_order():
    """Inputs written on a side stream after a long sleep: an op launched on any other stream would
    read the zeros; work queued after the ops on the same stream must see their results."""
    src = torch.randn(1 << 20, device=DEV)
    x = torch.zeros_like(src)
    lam = torch.tensor(0.37, device=DEV)
    s = torch.cuda.Stream()
    s.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(s):
        torch.cuda._sleep(SLEEP_CYCLES)
        x.copy_(src)
        got = _every_op(x, lam)
        after = [t * 2 for t in got]
    s.synchronize()
    want = _every_op(src, lam)
    _assert_same(got, want)
    _assert_same(after, [t * 2 for t in want])


@needs_cuda
def test_device_guard_inputs_on_another_gpu_than_the_current_device():
    if torch.cuda.device_count() < 2:
        pytest.skip("needs two GPUs: with one, every input is on the current device, so a missing device guard cannot show")
    torch.cuda.set_device(0)
    src = torch.randn(1 << 20, device="cuda:1")
    x = torch.zeros_like(src)
    lam = torch.tensor(0.37, device="cuda:1")
    s1 = torch.cuda.Stream(device="cuda:1")
    prev = torch.cuda.current_stream(1)
    torch.cuda.set_stream(s1)  # also makes cuda:1 the current device
    try:
        s1.wait_stream(prev)
        torch.cuda._sleep(SLEEP_CYCLES)
        x.copy_(src)
        torch.cuda.set_device(0)  # cuda:1's current stream stays s1
        assert torch.cuda.current_device() == 0 and torch.cuda.current_stream(1) == s1
        got = _every_op(x, lam)
    finally:
        torch.cuda.set_stream(prev)
        torch.cuda.set_device(0)
    s1.synchronize()
    _assert_same(got, _every_op(src, lam))


def _graph_inputs():
    g = _gen(41)
    return dict(
        x=randn(4099, 5, dtype=torch.float32, g=g),
        y=torch.randint(0, 2, (4099,), generator=g, device=DEV),
        zc=randn(4099, 3, dtype=torch.float32, g=g),
        yc=torch.randint(0, 3, (4099,), generator=g, device=DEV),
    )


def _graph_ops(t, lam):
    x = t["x"]
    return [
        torch.ops.dann.grl_backward(x, lam),
        torch.ops.dann.split_reverse_backward(x[:7], x, 7, lam),
        *torch.ops.dann.domain_bce(x[:, 0], t["y"], 0, None, "mean"),
        *torch.ops.dann.domain_ce(t["zc"], t["yc"], None, "sum"),
        *torch.ops.dann.grl_linear_backward(x[:, :4], x, x[:4], lam),
    ]


def _capture(fn):
    """Warms fn up on a side stream (as torch.cuda.graph's docs ask), then captures it."""
    s = torch.cuda.Stream()
    s.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(s):
        fn()
    torch.cuda.current_stream().wait_stream(s)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        out = fn()
    return graph, out


@needs_cuda
@pytest.mark.parametrize("where", ["gpu", "gpu-bf16", "cpu-pinned"])
def test_cuda_graph_replays_see_new_inputs_and_lambda(where):
    t = _graph_inputs()
    lam = {
        "gpu": lambda: torch.tensor(0.37, device=DEV),
        "gpu-bf16": lambda: torch.tensor(0.37, device=DEV, dtype=torch.bfloat16),
        "cpu-pinned": lambda: torch.tensor(0.37).pin_memory(),
    }[where]()
    graph, out = _capture(lambda: _graph_ops(t, lam))
    for value in (0.9, -0.25):
        for v in t.values():
            v.copy_(torch.randint_like(v, 0, 3) if not v.is_floating_point() else torch.randn_like(v))
        t["y"].clamp_(0, 1)
        lam.fill_(value)
        graph.replay()
        torch.cuda.synchronize()
        want = _graph_ops(t, lam)
        for i, (a, b) in enumerate(zip(out, want)):
            if i < 2 or not a.is_floating_point():
                assert torch.equal(a, b), (where, value, i)
            else:
                torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
        assert torch.equal(out[0], reference.grl_backward(t["x"], lam))


@needs_cuda
def test_pageable_cpu_lambda_is_refused_under_capture():
    x = torch.randn(64, device=DEV)
    lam = torch.tensor(0.5)
    torch.ops.dann.grl_backward(x, lam)  # outside capture: fine
    with pytest.raises(ValueError, match="lambd is a CPU tensor in pageable memory"):
        with torch.cuda.graph(torch.cuda.CUDAGraph()):
            torch.ops.dann.grl_backward(x, lam)


@needs_cuda
def test_bad_label_in_a_graph_replay_is_reported_after_it():
    z = torch.randn(64, 3, device=DEV)
    y = torch.zeros(64, dtype=torch.long, device=DEV)
    graph, (loss, _, _) = _capture(lambda: torch.ops.dann.domain_ce(z, y, None, "mean"))
    y[5] = 3
    graph.replay()
    torch.cuda.synchronize()
    assert loss.isnan()
    with pytest.raises(ValueError, match=r"labels must be integers in \[0, 3\)"):
        dispatch._C.raise_pending_label_errors()


@needs_cuda
def test_no_host_sync():
    """Every op, every kind of λ, labels and autograd: nothing waits for the GPU."""
    x = torch.randn(1 << 12, device=DEV)
    z = torch.randn(256, 3, device=DEV, requires_grad=True)
    zb = torch.randn(256, device=DEV, requires_grad=True)
    y, yb = torch.randint(0, 3, (256,), device=DEV), torch.randint(0, 2, (256,), device=DEV)
    lams = [torch.tensor(0.3, device=DEV), torch.tensor(0.3).pin_memory(), torch.tensor(0.3)]
    _every_op(x, lams[0])  # first calls (the pinned flag allocation) outside the check
    torch.cuda.synchronize()
    mode = torch.cuda.get_sync_debug_mode()
    torch.cuda.set_sync_debug_mode("error")
    try:
        for lam in lams:
            _every_op(x, lam)
        with dispatch_mode("ext"):
            loss = ops.domain_ce(z, y).loss + ops.domain_bce(zb, yb).loss + ops.domain_bce(zb, 100).loss
            loss.backward()
            ops.split_reverse(z, 100, lams[0])[1].sum().backward()
    finally:
        torch.cuda.set_sync_debug_mode(mode)


class dispatch_mode:
    def __init__(self, mode):
        self.mode, self.old = mode, dispatch.get_mode()

    def __enter__(self):
        dispatch.set_mode(self.mode)

    def __exit__(self, *exc):
        dispatch.set_mode(self.old)


# --- sizes past float32's integers and int32's range ----------------------------------------------


def test_n_above_2_pow_24():
    """float32 cannot count past 2^24: counts must stay exact, the mean must divide by the true n."""
    n = 2**24 + 3
    z = torch.randn(n, generator=_gen(51), device=DEV)
    ns = n // 2 + 1
    loss, grad, correct = torch.ops.dann.domain_bce(z, None, ns, None, "mean")
    assert int(correct) == int((z[:ns] <= 0).sum() + (z[ns:] > 0).sum())
    ref = reference.domain_bce(z.double(), None, ns, None, "mean")
    assert abs(float(loss) - float(ref[0])) <= 1e-5 * float(ref[0])
    torch.testing.assert_close(grad, ref[1].float(), rtol=1e-5, atol=1e-6 / n)
    zc = torch.randn(n, 2, generator=_gen(52), device=DEV)
    yc = (zc[:, 0] > 0.3).long()
    _, _, correct = torch.ops.dann.domain_ce(zc, yc, None, "sum")
    assert int(correct) == int((zc.argmax(1) == yc).sum())


def _need_gpu_bytes(n_bytes):
    if DEV != "cuda":
        pytest.skip("CUDA only: the int64 indexing of the CUDA kernels")
    free, _ = torch.cuda.mem_get_info()
    if free < n_bytes:
        pytest.skip(f"needs {n_bytes / 2**30:.0f} GiB of free GPU memory, has {free / 2**30:.0f}")


def test_n_at_least_2_pow_31_elementwise():
    _need_gpu_bytes(24 * 2**30)
    n = 2**31 + 13
    g = torch.randn(n, device=DEV, dtype=torch.half)
    lam = torch.tensor(0.37, device=DEV)
    windows = [(0, 4096), (2**31 - 4096, 2**31 + 12), (n - 4096, n)]
    for t in (g, g[1:]):  # aligned (vector path) and misaligned (scalar path)
        out = torch.ops.dann.grl_backward(t, lam)
        for a, b in windows:
            b = min(b, t.numel())
            assert torch.equal(out[a:b], reference.grl_backward(t[a:b], lam)), (a, b)
        del out
    m = 2**31 + 5  # the label rows end above 2^31
    out = torch.ops.dann.split_reverse_backward(g[:m], g, m, lam)
    for a, b in windows:
        nl = max(0, min(m, b) - a)
        assert torch.equal(out[a:b], reference.split_reverse_backward(g[a:a + nl], g[a:b], nl, lam)), (a, b)


def test_n_at_least_2_pow_31_losses():
    _need_gpu_bytes(40 * 2**30)
    n = 2**31 + 13
    ns = 2**31 - 7
    z = torch.randn(n, device=DEV)
    loss, grad, correct = torch.ops.dann.domain_bce(z, None, ns, None, "mean")
    assert int(correct) == int((z[:ns] <= 0).sum() + (z[ns:] > 0).sum())
    chunk = 2**28
    ref = 0.0
    for a in range(0, n, chunk):
        b = min(a + chunk, n)
        y = (torch.arange(a, b, device=DEV) >= ns).double()
        ref += float(torch.nn.functional.binary_cross_entropy_with_logits(z[a:b].double(), y, reduction="sum"))
    ref /= n
    assert abs(float(loss) - ref) <= 2e-5 * ref, (float(loss), ref)
    for a, b in ((0, 4096), (2**31 - 4096, 2**31 + 12), (n - 4096, n)):
        y = (torch.arange(a, b, device=DEV) >= ns).float()
        torch.testing.assert_close(grad[a:b], (torch.sigmoid(z[a:b]) - y) / n, rtol=1e-5, atol=1e-6 / n)
    assert torch.equal(loss, torch.ops.dann.domain_bce(z, None, ns, None, "mean")[0])
    del z, grad
    rows, k = 2**27 + 3, 17  # n·k > 2^31
    zc = torch.randn(rows, k, device=DEV, dtype=torch.bfloat16)
    yc = torch.randint(0, k, (rows,), device=DEV)
    _, grad, correct = torch.ops.dann.domain_ce(zc, yc, None, "sum")
    assert int(correct) == int((zc.argmax(1) == yc).sum())
    r0 = 2**31 // k - 8
    for a, b in ((r0, r0 + 16), (rows - 16, rows)):
        torch.testing.assert_close(grad[a:b].float(), reference.domain_ce(zc[a:b], yc[a:b], None, "sum")[1].float(),
                                   rtol=1.6e-2, atol=1e-2)


@needs_cuda
@pytest.mark.parametrize("dtype", (torch.float16, torch.bfloat16, torch.float32), ids=_name)
def test_grl_linear_backward_same_bits_whatever_lambda_device(dtype):
    g = _gen(61)
    x, w, grad = randn(300, 40, dtype=dtype, g=g), randn(700, 40, dtype=dtype, g=g), randn(300, 700, dtype=dtype, g=g)
    same_value = [lam for name, lam in lambdas(torch.float32) if "bf16" not in name]  # 0.37 in bf16 is another λ
    outs = [torch.ops.dann.grl_linear_backward(grad, x, w, lam)[0] for lam in same_value]
    for o in outs[1:]:
        assert torch.equal(o, outs[0])


# --- a whole DANN step under torch.compile(mode="reduce-overhead") ---------------------------------


class _Dann(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.features = torch.nn.Sequential(torch.nn.Linear(8, 32), torch.nn.ReLU())
        self.label = torch.nn.Linear(32, 3)
        self.hidden = torch.nn.Linear(32, 16)
        self.domain = torch.nn.Linear(16, 1)
        self.domains = torch.nn.Linear(16, 2)
        self.extra = torch.nn.Linear(32, 4)

    def forward(self, xs, ys, xt, dom, lam):
        f = self.features(torch.cat([xs, xt]))
        lab_f, dom_f = ops.split_reverse(f, xs.shape[0], lam)
        h = torch.relu(self.hidden(dom_f))
        loss = torch.nn.functional.cross_entropy(self.label(lab_f), ys)
        loss = loss + ops.domain_bce(self.domain(h).squeeze(1), dom).loss
        loss = loss + ops.domain_ce(self.domains(h), dom.long()).loss
        loss = loss + ops.domain_bce(self.domain(h).squeeze(1), xs.shape[0]).loss
        return loss + ops.grl_linear(f, self.extra.weight, self.extra.bias, lam).square().mean()


def test_torch_compile_reduce_overhead_dann_step():
    torch._dynamo.reset()
    torch.manual_seed(0)
    eager = _Dann().to(DEV)
    compiled_model = _Dann().to(DEV)
    compiled_model.load_state_dict(eager.state_dict())
    step = torch.compile(compiled_model, mode="reduce-overhead")
    lam_e, lam_c = torch.tensor(0.0, device=DEV), torch.tensor(0.0, device=DEV)
    from torch._dynamo.utils import counters

    counters.clear()
    g = _gen(71)
    with dispatch_mode("ext"):
        for i in range(5):
            xs, xt = torch.randn(32, 8, generator=g, device=DEV), torch.randn(32, 8, generator=g, device=DEV)
            ys = torch.randint(0, 3, (32,), generator=g, device=DEV)
            dom = torch.cat([torch.zeros(32), torch.ones(32)]).to(DEV)
            lam_e.fill_(0.2 * i)
            lam_c.fill_(0.2 * i)  # a new λ between replays, as a schedule does
            for model, fn, lam in ((eager, eager, lam_e), (compiled_model, step, lam_c)):
                model.zero_grad()
                if fn is step and DEV == "cuda":
                    torch.compiler.cudagraph_mark_step_begin()
                fn(xs, ys, xt, dom, lam).backward()
            for (name, a), b in zip(eager.named_parameters(), compiled_model.parameters()):
                torch.testing.assert_close(b.grad, a.grad, rtol=1e-3, atol=1e-5, msg=lambda m: f"step {i} {name}: {m}")
            with torch.no_grad():
                for a, b in zip(eager.parameters(), compiled_model.parameters()):
                    a -= 0.1 * a.grad
                    b -= 0.1 * b.grad
    if DEV == "cuda":
        skips = dict(counters["inductor"])
        assert skips.get("cudagraph_skips", 0) == 0, f"cudagraphs were skipped: {skips}"


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
