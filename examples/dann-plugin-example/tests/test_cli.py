"""The example plugin through the ``dann`` command line, as a user runs it."""
from __future__ import annotations

import json


def test_dann_run_trains_with_every_example_component(dann_cli, tmp_path):
    out = tmp_path / "run"
    result = dann_cli(
        "run", "--dataset", "csv-table", "--backbone", "resmlp", "--discriminator", "spectral-mlp",
        "--method", "coral", "--log", "text,csv", "--steps", "6", "--eval-every", "3", "--kernels", "reference",
        "--out", out, "--quiet", "--json",
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["final"]["step"] == 6
    assert (out / "metrics.txt").read_text().startswith("step 3: ")
    assert (out / "metrics.csv").exists() and (out / "metrics.jsonl").exists()
    recorded = json.loads((out / "config.json").read_text())
    assert recorded["provenance"]["components"]["method"]["distribution"] == "dann-plugin-example"


def test_dann_plugins_lists_the_example_and_its_command(dann_cli):
    listing = json.loads(dann_cli("plugins", "--json").stdout)
    row = next(row for row in listing["plugins"] if row["name"] == "dann_plugin_example")
    assert row["provides"]["commands"] == ["csv-summary"] and row["provides"]["loggers"] == ["text"]


def test_csv_summary_command(dann_cli, tmp_path):
    table = tmp_path / "t.csv"
    table.write_text("x,label,domain\n1,a,source\n2,b,target\n")
    result = dann_cli("csv-summary", table)
    assert result.exit_code == 0 and "2 rows, 1 features" in result.output
    bad = dann_cli("csv-summary", table, "--label-column", "y")
    assert bad.exit_code == 2 and "has no column 'y'" in bad.output
