"""``dann run --seeds``: the run's method over several seeds, as ``dann table`` writes it."""
from __future__ import annotations

import csv

from click.testing import CliRunner

from dann_core.cli import build_cli


def test_run_seeds_writes_the_multi_seed_table(tmp_path):
    out = tmp_path / "table"
    result = CliRunner().invoke(build_cli(), ["run", "--seeds", "0,1", "--steps", "20", "--eval-every", "10", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "| dann |" in result.output and "(n=2)" in result.output
    rows = list(csv.DictReader((out / "moons-table.csv").open()))
    assert [r["method"] for r in rows] == ["dann"]
    assert all(r["n_seeds"] == "2" and 0 <= float(r["target_acc_mean"]) <= 1 for r in rows)


def test_run_seeds_refuses_a_single_seed_too():
    result = CliRunner().invoke(build_cli(), ["run", "--seeds", "0,1", "--seed", "3"])
    assert result.exit_code == 2 and "drop --seed" in result.output
