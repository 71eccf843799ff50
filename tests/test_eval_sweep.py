"""dann sweep: grid parsing and validation, selection without target labels, complete output files."""
from __future__ import annotations

import csv
import json

import pytest

from dann_evaluation.sweep import SweepError, parse_grid, run_sweep, validate_grid
from dann_core.plugins import get_plugin_manager, get_registry


def test_parse_grid_values_and_geomspace(tmp_path):
    grid = parse_grid(["lambda=0,schedule,0.5", "lr=geomspace:0.01:1:3", "gamma=1,geomspace:10:1000:3"])
    assert grid == {"lambda": [0, "schedule", 0.5], "lr": [0.01, 0.1, 1.0], "gamma": [1, 10.0, 100.0, 1000.0]}
    path = tmp_path / "grid.yaml"
    path.write_text("grid:\n  lr: [0.1, 0.2]\n  discriminator.hidden: ['8', '16']\n")
    assert parse_grid(["lr=0.3"], path) == {"lr": [0.3], "discriminator.hidden": ["8", "16"]}


@pytest.mark.parametrize(
    "items, match",
    [
        (["lamda=0,1"], "unknown setting 'lamda'.*did you mean 'lambda'"),
        (["out=a,b"], "'out' cannot be swept"),
        (["lr=-1,0.1"], r"lr must be a number in \(0, 10\]"),
        (["lr"], "expected KEY=V1,V2"),
        (["lr=geomspace:0:1:3"], "geomspace:START:STOP:NUM"),
        (["lr=0.1,,0.2"], "empty value"),
        (["discriminator.widht=8"], "widht"),
    ],
)
def test_bad_grids_are_one_line_errors(items, match, tiny_config):
    registry = get_registry(get_plugin_manager(autoload=False))
    with pytest.raises(SweepError, match=match) as info:
        validate_grid(parse_grid(items), tiny_config, registry)
    assert "\n" not in str(info.value)


def test_empty_grid_is_an_error(tiny_config):
    with pytest.raises(SweepError, match="grid is empty"):
        validate_grid({}, tiny_config)


def test_grid_order_is_the_product(tiny_config):
    configs = validate_grid({"lr": [0.1, 0.2], "lambda": [0, "schedule"]}, tiny_config)
    assert [(c.lr, c.method_options["lambda"]) for c in configs] == [(0.1, 0.0), (0.1, "schedule"), (0.2, 0.0), (0.2, "schedule")]


def _read_csv(path):
    with open(path, newline="") as file:
        return list(csv.DictReader(file))


@pytest.mark.parametrize("select", ["reverse-validation", "source-val"])
def test_sweep_files_are_complete_and_parseable(tmp_path, tiny_config, select):
    grid = {"lambda": [0.0, 0.3], "lr": [0.3]}
    result = run_sweep(tiny_config, grid, out=tmp_path, select=select)
    rows = _read_csv(tmp_path / "sweep.csv")
    assert len(rows) == 2 and [r["lambda"] for r in rows] == ["0", "0.3"]
    assert "target_test_acc_reported_only" in rows[0]
    for row in rows:
        assert 0.0 <= float(row["source_val_acc"]) <= 1.0 and 0.0 <= float(row["target_test_acc_reported_only"]) <= 1.0
        assert row["status"] == "ok"
    assert sum(r["selected"] == "True" for r in rows) == 1
    data = json.loads((tmp_path / "sweep.json").read_text())
    assert data["select"] == select and data["selected"]["id"] == result["selected"]["id"]
    assert "never used to select" in data["selection"]
    markdown = (tmp_path / "sweep.md").read_text()
    assert "target test acc (reported only)" in markdown and markdown.count("**yes**") == 1
    if select == "reverse-validation":
        risks = [float(r["rv_risk"]) for r in rows]
        assert result["selected"]["rv_risk"] == min(risks)
    else:
        accs = [float(r["source_val_acc"]) for r in rows]
        assert result["selected"]["source_val_acc"] == max(accs)


def test_selection_ignores_target_accuracy(monkeypatch, tiny_config):
    """Rigged scores: the best target accuracy belongs to the worse reverse-validation risk."""
    from dann_evaluation import reverse_validation as rv

    def fake(config, data=None, holdout=0.1, registry=None):
        lam = float(config.method_options["lambda"])
        return rv.ReverseValidationResult(risk=0.3 if lam == 0 else 0.1, reverse_accuracy=0.0, reverse_loss=0.5, forward_source_val_acc=0.9,
                                          target_test_acc=0.99 if lam == 0 else 0.5, pseudo_label_agreement=None,
                                          n_source_holdout=1, seconds=0.0)

    monkeypatch.setattr(rv, "reverse_validation", fake)
    result = run_sweep(tiny_config, {"lambda": [0.0, 1.0]})
    assert result["selected"]["lambda"] == "1"


def test_equal_risks_are_broken_by_reverse_cross_entropy(monkeypatch, tiny_config):
    from dann_evaluation import reverse_validation as rv

    def fake(config, data=None, holdout=0.1, registry=None):
        loss = {0.0: 0.4, 1.0: 0.2, 2.0: 0.2}[float(config.method_options["lambda"])]
        return rv.ReverseValidationResult(risk=0.0, reverse_accuracy=1.0, reverse_loss=loss, forward_source_val_acc=0.9,
                                          target_test_acc=0.5, pseudo_label_agreement=None, n_source_holdout=1, seconds=0.0)

    monkeypatch.setattr(rv, "reverse_validation", fake)
    result = run_sweep(tiny_config, {"lambda": [0.0, 1.0, 2.0]})
    assert result["selected"]["lambda"] == "1"  # lowest loss; of the two equal, the first listed


def test_diverged_configuration_ranks_last(tmp_path, tiny_config, monkeypatch):
    import dann_core.train as train_api

    real_fit = train_api.fit

    def fit(config, data=None, quiet=True, registry=None):
        if config.lr > 1:
            raise train_api.DivergedError("training diverged: label_loss is nan at step 3")
        return real_fit(config, data=data, quiet=quiet)

    monkeypatch.setattr(train_api, "fit", fit)
    result = run_sweep(tiny_config, {"lr": [5.0, 0.3]}, out=tmp_path, select="source-val")
    assert [row["status"] for row in result["rows"]] == ["diverged", "ok"]
    assert result["selected"]["lr"] == "0.3"
    assert _read_csv(tmp_path / "sweep.csv")[0]["source_val_acc"] == ""
    everything_diverged = run_sweep(tiny_config, {"lr": [5.0, 8.0]}, select="source-val")
    assert everything_diverged["selected"] is None and not any(r["selected"] for r in everything_diverged["rows"])
