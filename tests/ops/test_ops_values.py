"""Compiled kernels against the reference: the same values for every sample at every CPU tier, and the same errors."""
from __future__ import annotations

import pytest
import torch

from dann_core.ops import dispatch, reference
from op_samples import assert_same, needs_ext, sample_dtype, samples, tier  # noqa: F401  (tier: a fixture)


@pytest.mark.parametrize("sample", list(samples()), ids=repr)
def test_kernel_matches_reference(tier, sample):  # noqa: F811 (tier: the op_samples fixture imported above)
    """Every sample at every CPU tier this CPU runs (tiers it lacks skip, naming the flags)."""
    assert dispatch.cpu_capability() == tier
    got = getattr(torch.ops.dann, sample.op)(*sample.args)
    expected = getattr(reference, sample.op)(*sample.args)
    assert_same(got, expected, sample_dtype(sample))


@needs_ext
@pytest.mark.parametrize("op", ["domain_bce", "domain_ce"])
def test_loss_sums_are_deterministic(op):
    torch.manual_seed(1)
    z = torch.randn(1_000_003) if op == "domain_bce" else torch.randn(300_001, 4)
    args = (z, None, 5000, None, "sum") if op == "domain_bce" else (z, torch.randint(0, 4, (300_001,)), None, "sum")
    fn = getattr(torch.ops.dann, op)
    threads = torch.get_num_threads()
    first = fn(*args)[0]
    try:
        torch.set_num_threads(1)
        single = fn(*args)[0]
    finally:
        torch.set_num_threads(threads)
    assert torch.equal(first, fn(*args)[0]) and torch.equal(first, single)


def test_reference_loss_equals_torch_bce_with_logits():
    torch.manual_seed(0)
    z, y, w = torch.randn(513, dtype=torch.float64), torch.randint(0, 2, (513,)), torch.rand(513, dtype=torch.float64)
    loss, grad, correct = reference.domain_bce(z, y, 0, w, "mean")
    zz = z.clone().requires_grad_()
    expected = torch.nn.functional.binary_cross_entropy_with_logits(zz, y.double(), weight=w)
    expected.backward()
    torch.testing.assert_close(loss, expected.detach())
    torch.testing.assert_close(grad, zz.grad)
    assert int(correct) == int(((z > 0).long() == y).sum())


def test_reference_ce_equals_torch_cross_entropy():
    torch.manual_seed(0)
    z, y = torch.randn(257, 5, dtype=torch.float64), torch.randint(0, 5, (257,))
    loss, grad, correct = reference.domain_ce(z, y, None, "mean")
    zz = z.clone().requires_grad_()
    expected = torch.nn.functional.cross_entropy(zz, y)
    expected.backward()
    torch.testing.assert_close(loss, expected.detach())
    torch.testing.assert_close(grad, zz.grad)
    assert int(correct) == int((z.argmax(1) == y).sum())


def test_bce_is_stable_for_huge_logits():
    z = torch.tensor([1e4, -1e4, 80.0, -80.0])
    y = torch.tensor([1, 0, 0, 1])
    loss, grad, correct = reference.domain_bce(z, y, 0, None, "none")
    torch.testing.assert_close(loss, torch.tensor([0.0, 0.0, 80.0, 80.0]))
    assert torch.isfinite(grad).all() and int(correct) == 2


BAD_INPUTS = [
    ("grl_backward", (torch.ones(3), torch.ones(2)), ValueError, "lambd must be a 0-dim tensor"),
    ("grl_backward", (torch.ones(3), torch.tensor(1)), TypeError, "lambd must be a floating-point tensor"),
    ("split_reverse_backward", (None, torch.ones(4, 2), 5, torch.tensor(1.0)), ValueError, "n_label_rows must be in [0, 4]"),
    ("split_reverse_backward", (torch.ones(3, 2), torch.ones(4, 2), 2, torch.tensor(1.0)), ValueError,
     "grad_label must have shape (2, 2), got (3, 2)"),
    ("domain_bce", (torch.ones(4), torch.ones(3), 0, None, "mean"), ValueError, "labels must have 4 entries"),
    ("domain_bce", (torch.ones(4), torch.tensor([0, 1, 2, 0]), 0, None, "mean"), ValueError,
     "labels must be 0 (source) or 1 (target)"),
    ("domain_bce", (torch.ones(0), None, 0, None, "mean"), ValueError, "logits is empty"),
    ("domain_bce", (torch.ones(4, dtype=torch.long), None, 2, None, "mean"), TypeError, "logits must be float32"),
    ("domain_bce", (torch.ones(4, 2), None, 2, None, "mean"), ValueError, "logits must have shape (N,) or (N, 1)"),
    ("domain_bce", (torch.ones(4), None, 5, None, "mean"), ValueError, "n_source must be in [0, 4]"),
    ("domain_bce", (torch.ones(4), None, 2, torch.ones(3), "mean"), ValueError, "weight must have shape (4,)"),
    ("domain_bce", (torch.ones(4), None, 2, None, "avg"), ValueError, "reduction must be one of none, mean, sum"),
    ("domain_ce", (torch.ones(4, 3), torch.tensor([0, 1, 3, 0]), None, "mean"), ValueError,
     "labels must be integers in [0, 3)"),
    ("domain_ce", (torch.ones(4, 3), torch.zeros(4), None, "mean"), TypeError, "labels must be an integer tensor"),
    ("domain_ce", (torch.ones(4), torch.zeros(4, dtype=torch.long), None, "mean"), ValueError,
     "logits must have shape (N, K)"),
    ("domain_ce", (torch.ones(0, 2), torch.zeros(0, dtype=torch.long), None, "mean"), ValueError, "logits is empty"),
]


@pytest.mark.parametrize("impl", ["reference", pytest.param("ext", marks=needs_ext)])
@pytest.mark.parametrize("op,args,error,message", BAD_INPUTS, ids=lambda v: v if isinstance(v, str) else "")
def test_bad_input_gives_the_same_error_from_kernel_and_reference(impl, op, args, error, message):
    fn = getattr(reference, op) if impl == "reference" else getattr(torch.ops.dann, op)
    with pytest.raises(error) as info:
        fn(*args)
    assert message in str(info.value).splitlines()[0]
