"""npz per-domain input standardisation: each domain by its own training split's statistics (the
unlabelled target rows allowed), the same values whether the file is loaded or streamed."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from dann_datasets.npz import make_npz


@pytest.fixture
def tabular(tmp_path):
    rng = np.random.default_rng(0)
    xs = rng.normal(2.0, 3.0, size=(200, 5)).astype(np.float32)
    xs[:, 4] = 7.0  # a constant feature: centred, never divided by ~0
    xt = rng.normal(-1.0, 0.5, size=(150, 5)).astype(np.float32)
    path = tmp_path / "t.npz"
    np.savez(path, xs=xs, ys=rng.integers(0, 3, 200), xt=xt, yt=rng.integers(0, 3, 150))
    return path


def _moments(x: torch.Tensor):
    return x.mean(0), x.std(0)


def test_domain_mode_standardises_each_domain_by_its_own_training_rows(tabular):
    data = make_npz(0, path=tabular, standardize="domain")
    mean, std = _moments(data.source_train.x)
    torch.testing.assert_close(mean, torch.zeros(5), atol=1e-5, rtol=0)
    torch.testing.assert_close(std[:4], torch.ones(4), atol=1e-4, rtol=0)
    assert torch.all(data.source_train.x[:, 4] == 0)  # constant: centred only
    mean, std = _moments(data.target_train.x)
    torch.testing.assert_close(mean[:4], torch.zeros(4), atol=1e-5, rtol=0)
    torch.testing.assert_close(data.target_test.x, data.target_train.x)  # xt is both (no xt_test)
    raw = make_npz(0, path=tabular)
    src_mean, src_std = raw.source_train.x.mean(0), raw.source_train.x.std(0)
    expected_val = (raw.source_val.x[:, :4] - src_mean[:4]) / src_std[:4]  # val uses source_train's statistics
    torch.testing.assert_close(data.source_val.x[:, :4], expected_val, atol=1e-4, rtol=1e-4)


def test_source_mode_uses_source_statistics_for_both_domains(tabular):
    data = make_npz(0, path=tabular, standardize="source")
    raw = make_npz(0, path=tabular)
    mean, std = raw.source_train.x.mean(0), raw.source_train.x.std(0)
    torch.testing.assert_close(data.target_train.x[:, :4], (raw.target_train.x[:, :4] - mean[:4]) / std[:4], atol=1e-4, rtol=1e-4)


def test_images_are_standardised_per_channel_and_streaming_gives_the_same_rows(tmp_path):
    rng = np.random.default_rng(1)
    xs = rng.uniform(0, 1, size=(40, 3, 8, 8)).astype(np.float32) * np.array([1, 2, 3], dtype=np.float32)[None, :, None, None]
    xt = rng.uniform(0, 1, size=(30, 3, 8, 8)).astype(np.float32) + 5
    path = tmp_path / "img.npz"
    np.savez(path, xs=xs, ys=rng.integers(0, 2, 40), xt=xt)
    loaded = make_npz(0, path=path, standardize="domain", stream="off")
    streamed = make_npz(0, path=path, standardize="domain", stream="on", workers=0)
    x = loaded.source_train.x
    per_channel = x.transpose(0, 1).reshape(3, -1)
    torch.testing.assert_close(per_channel.mean(1), torch.zeros(3), atol=1e-5, rtol=0)
    torch.testing.assert_close(per_channel.std(1), torch.ones(3), atol=1e-4, rtol=0)
    for name in ("source_train", "source_val", "target_train"):
        lazy = getattr(streamed, name).x
        rows = lazy.finish(torch.stack([lazy.read(i) for i in range(len(lazy))]))
        torch.testing.assert_close(rows, getattr(loaded, name).x, atol=1e-5, rtol=1e-5)


def test_a_bad_mode_is_a_one_line_error(tabular):
    with pytest.raises(ValueError, match="standardize must be one of source, domain, none, got 'zscore'"):
        make_npz(0, path=tabular, standardize="zscore")
