"""The evaluation commands through the real ``dann`` CLI (wired by the ``evaluation`` entry point):
``dann eval pad``, ``dann sweep``, ``dann plot``, ``dann table``; bad input is one line, exit 2."""
from __future__ import annotations

import csv
import json

import click
import pytest
from click.testing import CliRunner

from dann_core.cli import build_cli
import dann_evaluation as commands

TINY = [
    "--set", "steps=10", "--set", "eval_every=5", "--set", "batch_size=16", "--set", "kernels=reference",
    "--set", "dataset.n_per_class=30", "--set", "dataset.n_test_per_class=40",
]


def invoke(*args: str):
    return CliRunner().invoke(build_cli(), list(args), catch_exceptions=False)


def error_line(result) -> str:
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    assert lines[0].startswith("Error: ")
    return lines[0]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("cmd") / "run"
    result = invoke("run", "--steps", "10", "--eval-every", "5", "--batch-size", "16", "--kernels", "reference",
                    "--set", "dataset.n_per_class=30", "--set", "dataset.n_test_per_class=40", "--out", str(out))
    assert result.exit_code == 0, result.output
    return out


def test_registered_through_the_entry_point():
    from dann_core.plugins import get_plugin_manager

    pm = get_plugin_manager(autoload=False)
    assert any(plugin is commands for plugin in pm.get_plugins())


@pytest.mark.parametrize("command", [["eval", "pad"], ["sweep"], ["plot"], ["table"]])
def test_help(command):
    result = invoke(*command, "--help")
    assert result.exit_code == 0 and "Usage: dann" in result.output


def test_hook_without_an_eval_group_makes_one():
    group = click.Group("scratch")
    commands.register_commands(cli=group)
    assert sorted(group.commands) == ["eval", "plot", "sweep", "table"]
    assert "pad" in group.commands["eval"].commands


def test_eval_pad(run_dir):
    result = invoke("eval", "pad", str(run_dir), "--max-samples", "50")
    assert result.exit_code == 0, result.output
    assert "raw inputs (before adaptation)" in result.output and "learned features" in result.output
    written = json.loads((run_dir / "pad.json").read_text())
    assert 0.0 <= written["features"]["pad"] <= 2.0
    assert "pad" not in json.loads((run_dir / "summary.json").read_text())
    as_json = json.loads(invoke("eval", "pad", str(run_dir), "--max-samples", "50", "--json", "--no-write").output)
    assert as_json["raw"] == written["raw"]  # deterministic


def test_eval_default_subcommand_still_works(run_dir):
    result = invoke("eval", str(run_dir), "--json")
    assert result.exit_code == 0 and "target_test_acc" in json.loads(result.output)


def test_eval_pad_without_checkpoint(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    result = invoke("eval", "pad", str(tmp_path))
    assert result.exit_code == 2
    assert "has no best.pt" in error_line(result)


def test_plot(run_dir, tmp_path):
    result = invoke("plot", str(run_dir), "--no-tsne", "--max-points", "40", "--out", str(tmp_path))
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["boundary.png", "curves.png", "embedding_pca.png"]


def test_sweep(tmp_path):
    out = tmp_path / "sweep"
    result = invoke("sweep", *TINY, "--grid", "lambda=0,0.5", "--select", "source-val", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert "target test acc (reported only)" in result.output and "selected: lambda=" in result.output
    with open(out / "sweep.csv", newline="") as file:
        assert len(list(csv.DictReader(file))) == 2


@pytest.mark.parametrize(
    "args, match",
    [
        (["--grid", "lamda=0,1"], "unknown setting 'lamda'"),
        ([], "grid is empty"),
        (["--grid", "backbone.widht=4,8"], "widht"),
        (["--grid", "method=target-oracle"], "target-oracle"),
    ],
)
def test_sweep_bad_grid_is_one_line(args, match, tmp_path):
    result = invoke("sweep", *TINY, *args, "--out", str(tmp_path / "s"))
    assert result.exit_code == 2
    assert match in error_line(result)
    assert not (tmp_path / "s").exists()


def test_table(tmp_path):
    result = invoke("table", *TINY, "--seeds", "0,1", "--methods", "source-only,dann", "--out", str(tmp_path))
    assert result.exit_code == 0, result.output
    assert "| source-only |" in result.output and "| dann |" in result.output
    assert (tmp_path / "moons-table.md").exists() and (tmp_path / "moons-table.csv").exists()


def test_table_bad_seeds(tmp_path):
    result = invoke("table", "--seeds", "zero", "--out", str(tmp_path))
    assert result.exit_code == 2 and "bad seed list" in error_line(result)
