"""A small DANN training run gives the same losses with the compiled kernels and with the reference."""
from __future__ import annotations

import json

import pytest

from dann_core.config import RunConfig
from dann_core.ops import dispatch
from dann_core.train import train
from op_samples import needs_ext


def _metrics(run_dir):
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


@needs_ext
@pytest.mark.parametrize("method, options", [("dann", {}), ("cdan", {"entropy": True})])
def test_ext_and_reference_train_the_same_model(tmp_path, method, options):
    previous = dispatch.get_mode()
    runs = {}
    try:
        for kernels in ("ext", "reference"):
            cfg = RunConfig(steps=60, eval_every=20, seed=3, kernels=kernels, lr=0.1, method=method, method_options=options)
            train(cfg, run_dir=tmp_path / kernels)
            runs[kernels] = _metrics(tmp_path / kernels)
    finally:
        dispatch.set_mode(previous)
    assert len(runs["ext"]) == len(runs["reference"]) == 3
    for ext, ref in zip(runs["ext"], runs["reference"]):
        assert ext["step"] == ref["step"]
        for key in ("label_loss", "domain_loss", "domain_acc", "source_val_acc", "target_test_acc"):
            assert ext[key] == pytest.approx(ref[key], rel=1e-4, abs=1e-5), key
