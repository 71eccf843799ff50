"""Choosing among finished runs without target labels (dann table --choose, dann sweep): a setting per
method and a method, any selector (set-level included), source-only always a candidate, a collapsed
run never chosen, and the estimated gain over source-only."""
from __future__ import annotations

import json

import pytest
import torch
from click.testing import CliRunner

from dann_core.cli import build_cli
from dann_core.plugins import get_registry
from dann_core.train.stored import StoredRun
from dann_evaluation.across import ChoiceError, candidate, choose_among, choose_in_table

TINY = ["--set", "steps=15", "--set", "eval_every=5", "--set", "batch_size=16", "--set", "kernels=reference", "--set", "threads=1",
        "--set", "dataset.n_per_class=30", "--set", "dataset.n_test_per_class=40"]


def invoke(*args: str):
    return CliRunner().invoke(build_cli(), list(args), catch_exceptions=False)


LABELS = ("source-only", "dann", "dann[lambda=0.1]", "cdan", "target-oracle")


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    """Runs as a table lays them out (trained in this process: a job per run would take minutes here)."""
    import dataclasses

    from dann_core.testing import tiny_config
    from dann_core.train import train
    from dann_evaluation.tables import method_config

    out, runs = tmp_path_factory.mktemp("table"), []
    base = dataclasses.replace(tiny_config(), steps=15, eval_every=5, threads=1)
    for seed in (0, 1):
        for label in LABELS:
            run_dir = out / f"{label}-s{seed}"
            train(dataclasses.replace(method_config(base, label), seed=seed), run_dir)
            runs.append({"label": label, "seed": seed, "run_dir": run_dir})
    return runs


def test_a_table_chooses_a_setting_per_method_and_a_method_per_seed_with_a_set_level_selector(table):
    registry = get_registry()
    choice = choose_in_table(table, "ensv", registry)
    assert choice["selector"] == "ensv" and [s["seed"] for s in choice["seeds"]] == [0, 1]
    for seed in choice["seeds"]:
        runs = [r for r in table if r["seed"] == seed["seed"] and r["label"] != "target-oracle"]  # it trains on target labels
        # EnsV by hand: each run's own EnsV choice, then the chosen checkpoints' agreement with their ensemble
        steps = {r["label"]: candidate(r["run_dir"], "ensv", registry.build("selector", "ensv", {}), registry)["step"] for r in runs}
        probs = {r["label"]: StoredRun(r["run_dir"]).view_candidate(steps[r["label"]]).view_logits("target").double().softmax(1) for r in runs}
        ensemble = torch.stack(list(probs.values())).mean(0).argmax(1)
        agreement = {label: float((p.argmax(1) == ensemble).double().mean()) for label, p in probs.items()}
        best = max(agreement.values())
        assert seed["chosen"]["label"] == next(label for label in probs if agreement[label] == best)  # ties: the first listed
        assert seed["chosen"]["label"] != "target-oracle" and seed["settings"]["dann"] in ("dann", "dann[lambda=0.1]")
        source_only = seed["source_only"]["target_acc_estimate"]
        if seed["chosen"]["label"] == "source-only":
            assert seed["adaptation"] == "estimated to hurt: source-only kept"
        else:
            assert seed["adaptation"] == f"adaptation estimated {seed['chosen']['target_acc_estimate'] - source_only:+.3f} over source-only"
    assert choice["summary"].startswith(f"chosen by ensv (seed 0: {choice['seeds'][0]['chosen']['label']}")


def test_the_table_command_adds_source_only_and_prints_the_choice(tmp_path):
    result = invoke("table", "--methods", "dann", "--seeds", "0", *TINY, "--out", str(tmp_path / "t"), "--choose", "atc")
    assert result.exit_code == 0, result.output
    assert "source-only added to --methods" in result.output
    assert "seed 0: chosen " in result.output and "chosen by atc (seed 0: " in result.output
    choice = json.loads((tmp_path / "t" / "moons-choice.json").read_text())
    assert {choice["seeds"][0]["chosen"]["label"], choice["seeds"][0]["source_only"]["label"]} <= {"dann", "source-only"}


def test_a_collapsed_run_is_never_chosen(table):
    registry = get_registry()
    runs = [r for r in table if r["seed"] == 0]
    first = choose_in_table(runs, "source-val", registry)["seeds"][0]["chosen"]["label"]
    summary_path = next(r["run_dir"] for r in runs if r["label"] == first) / "summary.json"
    summary = json.loads(summary_path.read_text())
    try:
        summary_path.write_text(json.dumps({**summary, "state": "collapsed"}))
        again = choose_in_table(runs, "source-val", registry)["seeds"][0]
        assert again["chosen"]["label"] != first
    finally:
        summary_path.write_text(json.dumps(summary))


def test_a_set_level_choice_refuses_runs_on_different_data(table):
    registry = get_registry()
    selector = registry.build("selector", "ensv", {})
    runs = [r for r in table if r["label"] == "dann"]  # seeds 0 and 1: different data
    entries = [candidate(r["run_dir"], "ensv", selector, registry) for r in runs]
    with pytest.raises(ChoiceError, match="a set-level selector compares runs on the same data"):
        choose_among(entries, selector)


@pytest.mark.parametrize("choose, message", [("last", "selector last ranks the checkpoints of one run and cannot compare runs"),
                                             ("nope", "unknown selector 'nope'")])
def test_a_bad_choice_is_one_line_before_anything_is_trained(tmp_path, choose, message):
    result = invoke("table", "--methods", "dann", "--seeds", "0", *TINY, "--out", str(tmp_path / "t"), "--choose", choose)
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code == 2 and len(lines) == 1 and message in lines[0], result.output
    assert not (tmp_path / "t").exists()


def test_a_sweep_over_methods_by_a_set_level_selector_compares_source_only(tmp_path):
    result = invoke("sweep", "--grid", "method=dann,cdan", *TINY, "--select", "ensv", "--out", str(tmp_path / "s"), "--json")
    assert result.exit_code == 0, result.output
    sweep = json.loads(result.stdout)
    assert [r["method"] for r in sweep["rows"]] == ["source-only", "dann", "cdan"]
    assert "scored against the others' as one set" in sweep["selection"]
    selected = sweep["selected"]
    assert selected["score"] == max(r["score"] for r in sweep["rows"])
    adaptation = sweep["adaptation"]
    if selected["method"] == "source-only":
        assert adaptation["line"] == "estimated to hurt: source-only kept"
    else:
        gain = adaptation["estimates"]["selected"] - adaptation["estimates"]["source_only"]
        assert adaptation["line"] == f"adaptation estimated {gain:+.3f} over source-only"
