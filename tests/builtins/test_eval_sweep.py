"""dann sweep: grid parsing and validation, selection without target labels, complete output files."""
from __future__ import annotations

import csv
import dataclasses
import json

import pytest

from dann_evaluation.grid import SweepError, parse_grid, validate_grid
from dann_evaluation.sweep import run_sweep
from dann_core.plugins import get_plugin_manager, get_registry  # noqa: F401


def test_parse_grid_values_and_geomspace(tmp_path):
    from dann_evaluation.grid import Range

    grid = parse_grid(["lambda=0,schedule,0.5", "lr=geomspace:0.01:1:3", "gamma=1,geomspace:10:1000:3"])
    assert grid == {"lambda": [0, "schedule", 0.5], "lr": [0.01, 0.1, 1.0], "gamma": [1, 10.0, 100.0, 1000.0]}
    assert parse_grid(["lr=logrange:0.001:0.1", "steps=range:10:50"]) == {"lr": [Range(0.001, 0.1, log=True)], "steps": [Range(10, 50)]}
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
        (["lr=range:1:0.1"], "LOW < HIGH"),
        (["lr=0.1,range:0.1:1"], "a range is the key's only value"),
        (["select=dev,snd"], "the sweep's selector is --select"),
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


@pytest.fixture
def registry():
    import dann_launchers
    from dann_core.testing import registry_with

    return registry_with(dann_launchers)


@pytest.mark.parametrize("select", ["reverse-val", "source-val"])
def test_sweep_files_are_complete_and_parseable(tmp_path, tiny_config, select, registry):
    base = dataclasses.replace(tiny_config, select=select, select_options={"steps": 10} if select == "reverse-val" else {})
    grid = {"lambda": [0.0, 0.3], "lr": [0.3]}
    result = run_sweep(base, grid, tmp_path, select=select, registry=registry, workers=2)
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
    scores = [float(r["score"]) for r in rows]
    best = min(scores) if select == "reverse-val" else max(scores)  # a risk is lowered, an accuracy raised
    assert result["selected"]["score"] == best
    for job in (tmp_path / "jobs").iterdir():  # every job is an ordinary run selected by the sweep's selector
        assert json.loads((job / "run" / "summary.json").read_text())["selector"] == select


def test_the_old_rule_name_is_the_reverse_val_selector(registry):
    from dann_evaluation.sweep import sweep_selector

    assert type(sweep_selector("reverse-validation", registry)) is type(sweep_selector("reverse-val", registry))


def _row(lam, score, target, status="ok"):
    return {"id": f"job{lam}", "lambda": lam, "status": status, "score": score, "target_test_acc_reported_only": target}


def test_selection_ignores_target_accuracy(registry):
    """Rigged scores: the best target accuracy belongs to the worse reverse-validation risk."""
    from dann_evaluation.sweep import select_best, sweep_selector

    rows = [_row("0", 0.3, 0.99), _row("1", 0.1, 0.5)]
    assert select_best(rows, sweep_selector("reverse-val", registry))["lambda"] == "1"


def test_equal_scores_go_to_the_first_listed(registry):
    from dann_evaluation.sweep import select_best, sweep_selector

    rows = [_row("0", 0.4, 0.5), _row("1", 0.2, 0.5), _row("2", 0.2, 0.9)]
    assert select_best(rows, sweep_selector("reverse-val", registry))["lambda"] == "1"


def test_diverged_configuration_ranks_last(registry):
    from dann_evaluation.sweep import select_best, sweep_selector

    selector = sweep_selector("source-val", registry)
    rows = [_row("5", None, None, "diverged"), _row("0.3", 0.6, 0.7)]
    assert select_best(rows, selector)["lambda"] == "0.3"
    everything_diverged = [_row("5", None, None, "diverged"), _row("8", None, None, "failed")]
    assert select_best(everything_diverged, selector) is None


def test_a_diverged_job_is_a_result_not_a_failure(tmp_path, tiny_config):
    from dann_evaluation import jobs
    from dann_evaluation.sweep import collect

    job_dir = jobs.write_job(tmp_path, dataclasses.replace(tiny_config, select="source-val"), {"lr": "5"}, 0, "sweep")
    (job_dir / "diverged").write_text("training diverged: label_loss is nan at step 3\n")
    result = collect(tmp_path)
    assert [row["status"] for row in result["rows"]] == ["diverged"] and result["selected"] is None
    assert _read_csv(tmp_path / "sweep.csv")[0]["source_val_acc"] == ""
