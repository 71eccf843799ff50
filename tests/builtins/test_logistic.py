"""The truncated-Newton solver of DEV's domain classifier: its conjugate gradients against a direct solve,
and the classifier it reaches whatever the preconditioner's precision or staleness (the preconditioner
decides how fast, never where to)."""
from __future__ import annotations

import pytest
import torch

import dann_selectors.logistic as logistic
from dann_selectors.logistic import CholeskyPreconditioner, DomainClassifier, conjugate_gradients
from tests.builtins.test_dev_selector import features


def _system(seed: int = 0, n: int = 120, k: int = 9):
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(n, k, generator=g)
    weights = torch.rand(n, generator=g, dtype=torch.float64) * 0.25
    penalised = torch.ones(k, dtype=torch.float64)
    penalised[-1] = 0.0
    gradient = torch.randn(k, generator=g, dtype=torch.float64)
    hessian = z.double().T @ (weights[:, None] * z.double()) + torch.diag(penalised)
    return z, weights, penalised, gradient, hessian


def test_conjugate_gradients_solve_the_newton_system_to_their_tolerance():
    z, weights, penalised, gradient, hessian = _system()
    exact = -torch.linalg.solve(hessian, gradient)
    unpreconditioned = lambda r: r.clone()  # noqa: E731
    direction, converged = conjugate_gradients(z, weights, penalised, gradient, unpreconditioned, tol=1e-8, max_steps=50)
    assert converged
    assert torch.allclose(direction, exact, rtol=1e-5, atol=1e-6)
    # loosely: a residual of 10% of the gradient's (in the preconditioner's norm), still a descent direction
    loose, converged = conjugate_gradients(z, weights, penalised, gradient, unpreconditioned, tol=0.1, max_steps=50)
    residual = hessian @ loose + gradient
    assert converged and float(residual.norm()) <= 0.1 * float(gradient.norm()) and float(gradient @ loose) < 0


def test_conjugate_gradients_report_a_preconditioner_that_does_not_get_there():
    z, weights, penalised, gradient, _ = _system()
    direction, converged = conjugate_gradients(z, weights, penalised, gradient, lambda r: r.clone(), tol=1e-8, max_steps=2)
    assert not converged and float(gradient @ direction) < 0  # partial, but downhill


def test_an_exact_cholesky_preconditioner_solves_in_one_step():
    z, weights, penalised, gradient, hessian = _system(1)
    preconditioner = CholeskyPreconditioner(z, weights, penalised)
    direction, converged = conjugate_gradients(z, weights, penalised, gradient, preconditioner, tol=1e-4, max_steps=1)
    assert converged
    assert torch.allclose(direction, -torch.linalg.solve(hessian, gradient), rtol=1e-4, atol=1e-5)


def test_a_failed_low_precision_factor_falls_back_to_float64(monkeypatch):
    z, weights, penalised, _, hessian = _system(2)
    monkeypatch.setattr(torch.linalg, "cholesky_ex", lambda h: (h, torch.tensor(1)))  # every float32 factor "fails"
    factor = CholeskyPreconditioner(z, weights, penalised, z.to(torch.bfloat16)).factor
    assert factor.dtype == torch.float64
    assert torch.allclose(factor @ factor.T, hessian, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("kernel", [False, True])
def test_the_classifier_is_the_same_with_a_bfloat16_or_float32_or_stale_preconditioner(monkeypatch, kernel):
    source, target, val = features(1, 400, 64, 0.6)  # nearly separable: the weights move a lot
    fits = {}
    for name, fast, cg_steps in [("bfloat16", True, logistic.MAX_CG_STEPS), ("float32", False, logistic.MAX_CG_STEPS),
                                 ("refreshed every step", False, 1), ("never refreshed", False, 500)]:
        monkeypatch.setattr(logistic, "_fast_bfloat16", lambda device, fast=fast: fast)
        monkeypatch.setattr(logistic, "MAX_CG_STEPS", cg_steps)
        fits[name] = DomainClassifier.fit(source, target, 1.0, kernel=kernel).logits(val)
    for name, logits in fits.items():
        assert torch.allclose(logits, fits["float32"], atol=1e-3, rtol=1e-4), name


def test_bfloat16_is_used_only_where_the_device_multiplies_it_natively():
    assert logistic._fast_bfloat16(torch.device("meta")) is False
    cpu = logistic._fast_bfloat16(torch.device("cpu"))
    assert cpu == bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
