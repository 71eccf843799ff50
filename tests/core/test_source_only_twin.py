"""dann run --source-only-twin: the run's source-only twin trained on the same data and steps, and the
label-free verdict on whether adaptation helped (summary.json, printed summary)."""
from __future__ import annotations

import json

from click.testing import CliRunner

from dann_core.cli import build_cli
from dann_core.train.twin import compare

TINY = ["--steps", "20", "--set", "eval_every=5", "--set", "batch_size=16", "--set", "kernels=reference", "--set", "threads=1",
        "--set", "dataset.n_per_class=30", "--set", "dataset.n_test_per_class=40", "--quiet"]


def test_the_twin_is_trained_alongside_and_the_verdict_follows_the_estimates(tmp_path):
    result = CliRunner().invoke(build_cli(), ["run", *TINY, "--out", str(tmp_path / "run"), "--source-only-twin"])
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    twin = json.loads((tmp_path / "run" / "source-only" / "summary.json").read_text())
    assert twin["method"] == "source-only" and twin["steps"] == summary["steps"] and twin["seed"] == summary["seed"]
    comparison = summary["source_only_twin"]
    gain = round(summary["target_acc_estimate"] - twin["target_acc_estimate"], 4)
    assert comparison["estimated_gain"] == gain and comparison["kept"] == ("adapted" if gain > 0 else "source-only")
    assert f"source-only twin: {comparison['line']}" in result.output
    # a second call reads the finished twin back instead of training it again
    again = compare(tmp_path / "run", summary, twin)
    assert again["line"] == comparison["line"]


def test_the_verdict_says_estimated_to_hurt_when_source_only_is_estimated_better(tmp_path):
    verdict = compare(tmp_path, {"target_acc_estimate": 0.70}, {"target_acc_estimate": 0.75, "target_test_acc": 0.8})
    assert verdict["kept"] == "source-only" and verdict["line"].startswith("estimated to hurt: source-only kept")
    assert compare(tmp_path, {"target_acc_estimate": 0.80}, {"target_acc_estimate": 0.75})["line"] == "adaptation estimated +0.050 over source-only"


def test_the_twin_refuses_seeds_and_processes_in_one_line(tmp_path):
    result = CliRunner().invoke(build_cli(), ["run", *TINY, "--out", str(tmp_path / "run"), "--source-only-twin", "--seeds", "0,1"])
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code == 2 and len(lines) == 1 and "--source-only-twin compares one run in one process" in lines[0]
    assert not (tmp_path / "run").exists()
