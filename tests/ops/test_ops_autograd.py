"""The public ops under autograd, gradcheck, opcheck and torch.compile, on every available backend."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch._dynamo.testing import CompileCounterWithBackend

from dann_core import ops
from dann_core.ops import dispatch
from op_samples import DTYPES, HAS_EXT, TOLERANCE, needs_ext, samples

BACKENDS = ["reference", pytest.param("ext", marks=needs_ext)]


@pytest.fixture(params=BACKENDS)
def kernels(request):
    previous = dispatch.get_mode()
    dispatch.set_mode(request.param)
    yield request.param
    dispatch.set_mode(previous)


def _lam(value=0.37):
    return torch.tensor(value)


@pytest.mark.parametrize("dtype", DTYPES)
def test_grad_reverse_is_a_view_forward_and_scales_backward(kernels, dtype):
    x = torch.randn(1023, 5, dtype=dtype, requires_grad=True)
    y = ops.grad_reverse(x, _lam())
    assert y.data_ptr() == x.data_ptr() and torch.equal(y, x)
    upstream = torch.randn_like(x)
    y.backward(upstream)
    atol, rtol = TOLERANCE[dtype]
    ct = torch.float64 if dtype == torch.float64 else torch.float32
    torch.testing.assert_close(x.grad, (upstream.to(ct) * -_lam().to(ct)).to(dtype), atol=atol, rtol=rtol)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n,n_label", [(1, 1), (7, 3), (1023, 512), (1023, 0)])
def test_split_reverse_merges_both_heads_gradients(kernels, dtype, n, n_label):
    f = torch.randn(n, 6, dtype=dtype, requires_grad=True)
    a, b = torch.randn(n_label, 6, dtype=dtype), torch.randn(n, 6, dtype=dtype)
    label_f, domain_f = ops.split_reverse(f, n_label, _lam())
    assert label_f.shape == (n_label, 6) and domain_f.shape == f.shape
    ((label_f * a).sum() + (domain_f * b).sum()).backward()
    ct = torch.float64 if dtype == torch.float64 else torch.float32
    expected = -_lam().to(ct) * b.to(ct)
    expected[:n_label] += a.to(ct)
    atol, rtol = TOLERANCE[dtype]
    torch.testing.assert_close(f.grad, expected.to(dtype), atol=4 * atol, rtol=4 * rtol)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("labels", ["n_source", "tensor"])
def test_domain_bce_matches_torch_with_nonunit_upstream_gradient(kernels, reduction, labels):
    torch.manual_seed(0)
    n = 1023
    z = torch.randn(n, 1, dtype=torch.float64, requires_grad=True)
    y = (torch.arange(n) >= 400).double()
    w = torch.rand(n, dtype=torch.float64)
    result = ops.domain_bce(z, 400 if labels == "n_source" else y.long(), weight=w, reduction=reduction)
    zz = z.detach().clone().requires_grad_()
    expected = F.binary_cross_entropy_with_logits(zz.view(-1), y, weight=w, reduction=reduction)
    torch.testing.assert_close(result.loss, expected)
    upstream = torch.rand_like(expected) + 0.5
    result.loss.backward(upstream)
    expected.backward(upstream)
    torch.testing.assert_close(z.grad, zz.grad)
    assert int(result.n_correct) == int(((z.view(-1) > 0).double() == y).sum())


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_domain_ce_matches_torch_cross_entropy(kernels, reduction):
    torch.manual_seed(0)
    z = torch.randn(257, 4, dtype=torch.float64, requires_grad=True)
    y = torch.randint(0, 4, (257,))
    result = ops.domain_ce(z, y, reduction=reduction)
    zz = z.detach().clone().requires_grad_()
    expected = F.cross_entropy(zz, y, reduction=reduction)
    torch.testing.assert_close(result.loss, expected)
    upstream = torch.rand_like(expected) + 0.5
    result.loss.backward(upstream)
    expected.backward(upstream)
    torch.testing.assert_close(z.grad, zz.grad)


def test_grl_linear_equals_linear_after_grad_reverse(kernels):
    torch.manual_seed(0)
    x = torch.randn(33, 8, dtype=torch.float64, requires_grad=True)
    w = torch.randn(5, 8, dtype=torch.float64, requires_grad=True)
    b = torch.randn(5, dtype=torch.float64, requires_grad=True)
    upstream = torch.randn(33, 5, dtype=torch.float64)
    ops.grl_linear(x, w, b, _lam()).backward(upstream)
    got = [t.grad.clone() for t in (x, w, b)]
    for t in (x, w, b):
        t.grad = None
    F.linear(_plain_grl(x, 0.37), w, b).backward(upstream)
    for g, t in zip(got, (x, w, b)):
        torch.testing.assert_close(g, t.grad)


def _plain_grl(x, lam):
    """The textbook GRL by autograd hooks, independent of dann's ops."""
    y = x.view_as(x)
    y.register_hook(lambda g: -lam * g)
    return y


def test_gradcheck_every_op(kernels):
    """A GRL's backward is deliberately not its forward's derivative, except at λ = −1, where −λ·g = g:
    there gradcheck verifies the whole wiring (the tests above check the scaling by λ)."""
    torch.manual_seed(0)
    lam = torch.tensor(-1.0, dtype=torch.float64)
    x = torch.randn(7, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: ops.grad_reverse(t, lam) * 1.0, (x,))
    assert torch.autograd.gradcheck(lambda t: [u * 1.0 for u in ops.split_reverse(t, 3, lam)], (x,))
    z = torch.randn(9, dtype=torch.float64, requires_grad=True)
    w = torch.rand(9, dtype=torch.float64)
    for reduction in ("mean", "sum", "none"):
        assert torch.autograd.gradcheck(lambda t: ops.domain_bce(t, 4, weight=w, reduction=reduction).loss, (z,))
    zk = torch.randn(9, 3, dtype=torch.float64, requires_grad=True)
    yk = torch.randint(0, 3, (9,))
    assert torch.autograd.gradcheck(lambda t: ops.domain_ce(t, yk, weight=w).loss, (zk,))
    wl = torch.randn(4, 3, dtype=torch.float64, requires_grad=True)
    bl = torch.randn(4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, b_, c: ops.grl_linear(a, b_, c, lam), (x, wl, bl))


OPCHECK_SAMPLES = [s for s in samples(dtypes=(torch.float32, torch.float64), sizes=(1, 7, 33)) if "strided" not in s.note]


@needs_ext
@pytest.mark.parametrize("sample", OPCHECK_SAMPLES, ids=repr)
def test_opcheck(sample):
    torch.library.opcheck(getattr(torch.ops.dann, sample.op), sample.args)


def _dann_step(features, lam):
    label_f, domain_f = ops.split_reverse(features, 4, lam)
    domain = ops.domain_bce(domain_f.sum(dim=1), 4)
    return label_f.square().mean() + domain.loss, domain.n_correct


def test_torch_compile_fullgraph_does_not_recompile_when_lambda_changes(kernels):
    torch._dynamo.reset()
    counter = CompileCounterWithBackend("aot_eager")
    step = torch.compile(_dann_step, backend=counter, fullgraph=True)
    torch.manual_seed(0)
    for value in (0.0, 0.3, 0.9):
        f = torch.randn(10, 3, requires_grad=True)
        loss, correct = step(f, torch.tensor(value))
        loss.backward()
        g_compiled = f.grad.clone()
        f.grad = None
        expected_loss, expected_correct = _dann_step(f, torch.tensor(value))
        expected_loss.backward()
        torch.testing.assert_close(loss, expected_loss)
        torch.testing.assert_close(g_compiled, f.grad)
        assert int(correct) == int(expected_correct)
    assert counter.frame_count == 1


@pytest.mark.skipif(not HAS_EXT, reason="dann_core._C is not built")
def test_ext_mode_runs_the_compiled_op():
    previous = dispatch.get_mode()
    dispatch.set_mode("ext")
    try:
        assert ops.backend("cpu") == "ext"
        assert dispatch.impl("domain_bce", torch.ones(1)) is torch.ops.dann.domain_bce.default
    finally:
        dispatch.set_mode(previous)


def test_unknown_kernel_mode_names_the_choices():
    with pytest.raises(ValueError, match="DANN_KERNELS must be one of auto, ext, reference; got 'fast'"):
        dispatch.set_mode("fast")


@pytest.mark.parametrize(
    "call,error,message",
    [
        (lambda: ops.domain_bce(torch.ones(4), torch.tensor([0, 1, 2, 0])), ValueError, "labels must be 0 (source) or 1"),
        (lambda: ops.domain_bce(torch.ones(4), 9), ValueError, "n_source must be in [0, 4]"),
        (lambda: ops.domain_ce(torch.ones(3, 2), torch.tensor([0, 2, 1])), ValueError, "labels must be integers in [0, 2)"),
        (lambda: ops.grad_reverse(torch.ones(3), 0.5), ValueError, "lambd must be a 0-dim tensor"),
        (lambda: ops.split_reverse(torch.ones(3, 2), 4, _lam()), ValueError, "n_label_rows must be in [0, 3]"),
    ],
)
def test_public_api_errors_are_one_line_and_backend_independent(kernels, call, error, message):
    with pytest.raises(error) as info:
        call()
    assert message in str(info.value).splitlines()[0]


@pytest.mark.parametrize("op", ["domain_bce", "domain_ce"])
def test_repeated_backward_accumulates_correctly(kernels, op):
    """The loss may hand out its saved gradient when the upstream gradient is 1; accumulating into a
    leaf over retained graphs must still add, never alias or overwrite it."""
    torch.manual_seed(0)
    z = torch.randn(37, 3 if op == "domain_ce" else 1, dtype=torch.float64, requires_grad=True)
    loss = ops.domain_ce(z, torch.randint(0, 3, (37,))).loss if op == "domain_ce" else ops.domain_bce(z, 20).loss
    (once,) = torch.autograd.grad(loss, z, retain_graph=True)
    for _ in range(3):
        loss.backward(retain_graph=True)
    torch.testing.assert_close(z.grad, 3 * once)
    (again,) = torch.autograd.grad(loss, z)
    torch.testing.assert_close(again, once)


@needs_ext
@pytest.mark.parametrize("op", ["domain_bce", "domain_ce"])
def test_loss_autograd_node(op):
    """The C++ autograd kernel: one node on the loss only, nothing when no gradient is needed, an error
    (not a silent wrong gradient) for forward-mode AD and for an in-place change of the saved gradient."""
    z = torch.randn(6, 3 if op == "domain_ce" else 1, dtype=torch.float64, requires_grad=True)
    args = (torch.tensor([0, 1, 2, 0, 1, 2]), None, "mean") if op == "domain_ce" else (None, 3, None, "mean")
    fn = getattr(torch.ops.dann, op)
    loss, grad, correct = fn(z, *args)
    expected_name = "DomainCeBackward" if op == "domain_ce" else "DomainBceBackward"
    assert loss.grad_fn.name() == expected_name and loss.grad_fn.next_functions[0][0].variable is z
    assert not grad.requires_grad and not correct.requires_grad
    assert not fn(z.detach(), *args)[0].requires_grad
    with torch.no_grad():
        assert fn(z, *args)[0].grad_fn is None
    grad.add_(1.0)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        loss.backward()
    with torch.autograd.forward_ad.dual_level():
        dual = torch.autograd.forward_ad.make_dual(z.detach(), torch.ones_like(z))
        with pytest.raises(NotImplementedError, match="forward-mode AD is not supported"):
            fn(dual, *args)
