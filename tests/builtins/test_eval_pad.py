"""Proxy A-distance: ≈0 for one distribution, ≈2 for disjoint ones, monotone in the shift; run_pad."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from dann_evaluation.pad import C_VALUES, proxy_a_distance, run_pad
from dann_core.train import RunError, train


def gaussians(shift: float, n: int = 600, dim: int = 5, seed: int = 0):
    rng = np.random.default_rng(seed)
    offset = np.zeros(dim)
    offset[0] = shift
    return rng.normal(size=(n, dim)), rng.normal(size=(n, dim)) + offset


def test_c_grid_is_the_authors():
    assert np.allclose(C_VALUES, np.logspace(-5, 4, 10))


def test_same_distribution_is_near_zero():
    result = proxy_a_distance(*gaussians(0.0, n=1000))
    assert 0.0 <= result.pad < 0.3
    assert 0.42 < result.error <= 0.5
    assert result.n_source == result.n_target == 1000 and result.dim == 5


def test_disjoint_distributions_are_near_two():
    result = proxy_a_distance(*gaussians(20.0))
    assert result.pad > 1.95
    assert result.error < 0.0125


def test_monotone_as_gaussians_move_apart():
    pads = [proxy_a_distance(*gaussians(shift)).pad for shift in (0.0, 0.5, 1.0, 2.0, 4.0)]
    assert all(a < b for a, b in zip(pads, pads[1:])), pads
    assert pads[0] < 0.3 and pads[-1] > 1.8


def test_error_above_half_counts_as_one_minus_error():
    # Any classifier that errs on more than half is flipped: PAD is never negative.
    result = proxy_a_distance(*gaussians(0.0, n=200, seed=3), C_values=[1e-5, 1.0])
    assert all(e <= 0.5 for e in result.errors.values())
    assert 0.0 <= result.pad <= 2.0 and result.pad == pytest.approx(2 * (1 - 2 * min(result.errors.values())))


def test_tensors_and_images_are_flattened():
    xs = torch.zeros(40, 3, 4, 4)
    xt = torch.ones(40, 3, 4, 4)
    result = proxy_a_distance(xs + 0.01 * torch.randn(40, 3, 4, 4), xt, max_samples=30)
    assert result.dim == 48 and result.n_source == 30 and result.pad == 2.0


@pytest.mark.parametrize(
    "source, target, match",
    [
        (np.zeros((1, 2)), np.zeros((5, 2)), "at least 2 rows"),
        (np.zeros((5, 2)), np.zeros((5, 3)), "source has 2 features, target 3"),
        (np.full((5, 2), np.nan), np.zeros((5, 2)), "NaN"),
    ],
)
def test_bad_samples_are_one_line_errors(source, target, match):
    with pytest.raises(ValueError, match=match):
        proxy_a_distance(source, target)


def test_run_pad_writes_summary_and_features_differ_from_raw(tmp_path, tiny_config):
    run_dir = tmp_path / "run"
    train(tiny_config, run_dir=run_dir)
    result = run_pad(run_dir, max_samples=60)
    assert set(result) >= {"raw", "features", "checkpoint", "step", "split"}
    for key in ("raw", "features"):
        assert 0.0 <= result[key]["pad"] <= 2.0
    assert result["raw"]["dim"] == 2 and result["features"]["dim"] == 15
    assert "pad" not in json.loads((run_dir / "summary.json").read_text())  # training's summary is left alone
    assert json.loads((run_dir / "pad.json").read_text())["features"] == result["features"]


def test_run_pad_without_checkpoint_is_a_one_line_error(tmp_path, tiny_config):
    run_dir = tmp_path / "run"
    train(tiny_config, run_dir=run_dir)
    (run_dir / "best.pt").unlink()
    with pytest.raises(RunError, match="has no best.pt") as info:
        run_pad(run_dir)
    assert "\n" not in str(info.value)
    with pytest.raises(RunError, match="not a run directory"):
        run_pad(tmp_path / "nowhere")
