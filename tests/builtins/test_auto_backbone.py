"""The npz dataset recommends the ``auto`` backbone, which builds the measured recipe for the arrays' shape."""
from __future__ import annotations

import numpy as np
import pytest
from torch import nn

from dann_backbones.auto import chosen
from dann_core import config as config_io
from dann_core.plugins import get_registry
from dann_core.train import load_run, train


@pytest.mark.parametrize("shape, name", [((64,), "mlp"), ((1, 8, 8), "mlp"), ((3, 28, 28), "lenet"), ((1, 16, 20), "lenet"), ((3, 15, 40), "mlp")])
def test_auto_picks_by_shape(shape, name):
    assert chosen(shape)[0] == name
    backbone = get_registry().build("backbone", "auto", {}, input_shape=shape)
    assert any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in backbone.modules())  # both recipes have batch norm


@pytest.mark.parametrize("shape", [(12,), (1, 16, 16)])
def test_an_npz_run_gets_auto_and_reloads_its_checkpoint(tmp_path, shape):
    rng = np.random.default_rng(0)
    path = tmp_path / "d.npz"
    np.savez(path, xs=rng.normal(size=(60, *shape)).astype(np.float32), ys=rng.integers(0, 3, 60),
             xt=rng.normal(1, 1, size=(40, *shape)).astype(np.float32), yt=rng.integers(0, 3, 40))
    cfg = config_io.resolve(None, [f"dataset.path={path}"], {"dataset": "npz", "steps": 6, "eval_every": 3, "batch_size": 8, "threads": 1})
    assert cfg.backbone == "auto" and cfg.recommended["backbone"]["from"] == "dataset npz"
    train(cfg, tmp_path / "run")
    run = load_run(tmp_path / "run")
    assert type(run.model.backbone).__name__ == ("MLPBackbone" if len(shape) == 1 else "LeNetBackbone")
