"""Reverse validation: the 90/10 protocol, and on moons it ranks a reasonable λ above λ = 0 and a
destructive λ; target labels never reach the training of η or η_r."""
from __future__ import annotations

import dataclasses

import pytest
import torch

import dann_core.train as train_api
from dann_core.config import RunConfig
from dann_selectors.reverse_validation import split_holdout

# A moons setting where adaptation visibly helps within 800 steps (relu features, 500 points per class).
MOONS = dict(steps=800, lr=0.1, eval_every=200, device="cpu", kernels="reference", backbone_options={"activation": "relu", "width": 32},
             dataset_options={"n_per_class": 500, "n_test_per_class": 200})


def test_split_holdout_is_a_partition():
    keep, out = split_holdout(50, 0.1, torch.Generator().manual_seed(0))
    assert len(out) == 5 and len(keep) == 45
    assert sorted(torch.cat([keep, out]).tolist()) == list(range(50))


def test_reverse_risk_never_gives_target_labels_to_training(monkeypatch, tiny_config):
    """The reverse-val selector (the one reverse-validation path, the sweep's `--select reverse-val`) trains each
    reverse model on pseudo-labelled target inputs and unlabelled source inputs only."""
    seen = []
    real_fit = train_api.fit

    def spy(config, data=None, quiet=True, registry=None):
        if data is not None:
            seen.append(data)
        return real_fit(config, data=data, quiet=quiet, registry=registry)

    monkeypatch.setattr(train_api, "fit", spy)
    cfg = dataclasses.replace(tiny_config, select="reverse-val", select_options={"steps": 10})
    summary = train_api.fit(cfg).summary
    assert seen, "reverse-val trained no reverse model"
    for reverse in seen:
        assert reverse.target_train.y is None  # the source inputs, unlabelled
        assert reverse.source_train.y is not None and reverse.target_test.y is not None  # pseudo-labels; true source val labels
    assert 0.0 <= summary["selector_score"] <= 1.0


def test_target_oracle_is_refused_by_the_sweep(tiny_config):
    import dann_launchers
    from dann_core.testing import registry_with
    from dann_evaluation.grid import SweepError, validate_grid

    for select in ("reverse-val", "source-val"):  # whatever ranks the configurations
        with pytest.raises(SweepError, match="target-oracle trains on target labels"):
            validate_grid({"lr": [0.1]}, dataclasses.replace(tiny_config, method="target-oracle", method_options={}), registry_with(dann_launchers), select)


@pytest.mark.slow
def test_sweep_ranks_reasonable_lambda_above_zero_and_destructive(tmp_path):
    """The paper's λ schedule (0 → 1) vs no adaptation (λ = 0), by the reverse-val selector."""
    import dann_launchers
    from dann_core.testing import registry_with
    from dann_evaluation.sweep import run_sweep

    base = RunConfig(**MOONS, select="reverse-val", select_options={"steps": 400})
    result = run_sweep(base, {"lambda": [0.0, "schedule"]}, tmp_path, select="reverse-val", registry=registry_with(dann_launchers), workers=2)
    rows = {row["lambda"]: row for row in result["rows"]}
    assert rows["schedule"]["score"] < rows["0"]["score"], rows
    assert result["selected"]["lambda"] == "schedule"
