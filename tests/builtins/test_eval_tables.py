"""Multi-seed tables: seeds parsing, runs per method and seed, mean ± std, Markdown and CSV."""
from __future__ import annotations

import csv
import statistics

import pytest

from dann_evaluation.tables import aggregate, format_markdown, method_config, parse_methods, parse_seeds, run_multi_seed, split_method, write_table


def test_parse_seeds():
    assert parse_seeds("0,1,2") == [0, 1, 2]
    assert parse_seeds("3-5,9") == [3, 4, 5, 9]
    for bad in ("a", "", "1,1", "5-3"):
        with pytest.raises(ValueError, match="seed list"):
            parse_seeds(bad)


def test_parse_methods_keeps_bracketed_options_and_checks_names():
    from dann_core.plugins import get_registry

    registry = get_registry()
    assert parse_methods("dann, source-only,cdan[entropy=true,random_dim=64]", registry) == [
        "dann", "source-only", "cdan[entropy=true,random_dim=64]"]
    assert split_method("cdan[entropy=true,random_dim=64]") == ("cdan", {"entropy": True, "random_dim": 64})
    with pytest.raises(ValueError, match="unknown method 'dnn'; did you mean 'dann'"):
        parse_methods("dnn", registry)
    with pytest.raises(ValueError, match="unknown option 'entropi' for method 'cdan'"):
        parse_methods("cdan[entropi=true]", registry)
    with pytest.raises(ValueError, match="write NAME or NAME\\[OPTION=VALUE"):
        split_method("cdan[entropy=true")


def test_method_config_passes_base_options_only_to_methods_that_take_them(tiny_config):
    assert method_config(tiny_config, "source-only").method_options == {}
    assert method_config(tiny_config, "cdan[entropy=yes]").method_options == {"lambda": "schedule", "entropy": "yes"}  # coerced to the option's bool when built


def fake_summary(method, seed, acc, dataset="moons"):
    return {"dataset": dataset, "backbone": "mlp", "method": method, "seed": seed, "target_test_acc": acc,
            "best_source_val_acc": 0.9, "steps": 10}


def test_aggregate_mean_and_sample_std():
    rows = aggregate([fake_summary("dann", s, a) for s, a in enumerate([0.8, 0.9, 1.0])] + [fake_summary("source-only", 0, 0.7)])
    dann, source_only = rows
    assert dann["target_acc_mean"] == pytest.approx(0.9) and dann["target_acc_std"] == pytest.approx(statistics.stdev([0.8, 0.9, 1.0]))
    assert dann["n_seeds"] == 3 and dann["seeds"] == "0 1 2"
    assert source_only["target_acc_std"] == 0.0 and source_only["n_seeds"] == 1


def test_markdown_has_methods_as_rows_and_datasets_as_columns():
    summaries = [fake_summary(m, 0, 0.5, d) for d in ("moons", "digits-blend") for m in ("dann", "source-only", "target-oracle")]
    text = format_markdown(aggregate(summaries))
    lines = text.splitlines()
    assert lines[0] == "| Method | moons (mlp) | digits-blend (mlp) |"
    assert [line.split("|")[1].strip() for line in lines[2:5]] == ["dann", "source-only", "target-oracle"]  # as given
    assert "0.5000 ± 0.0000 (n=1)" in lines[2]
    labelled = aggregate([{**fake_summary("cdan", 0, 0.6), "label": "cdan[entropy=true]"}, fake_summary("cdan", 0, 0.4)])
    assert [row["method"] for row in labelled] == ["cdan[entropy=true]", "cdan"]  # options make their own row


def test_run_multi_seed_writes_runs_and_table(tmp_path, tiny_config):
    import dann_launchers
    from dann_core.testing import registry_with
    from dann_evaluation.jobs import list_jobs, read_job

    registry = registry_with(dann_launchers)
    progress = []
    summaries = run_multi_seed(tiny_config, [0, 1], ["source-only", "dann"], out=tmp_path, progress=progress.append,
                               registry=registry, workers=2)
    assert len(summaries) == 4 and len(progress) == 4
    labels = [read_job(d)["label"] for d in list_jobs(tmp_path)]
    assert labels == [{"method": m, "seed": s} for m in ("source-only", "dann") for s in (0, 1)]
    assert all((d / "run" / "best.pt").exists() for d in list_jobs(tmp_path))
    assert [(s["method"], s["seed"]) for s in summaries] == [("source-only", 0), ("source-only", 1), ("dann", 0), ("dann", 1)]
    md, csv_path = write_table(aggregate(summaries), tmp_path / "moons-table")
    with open(csv_path, newline="") as file:
        rows = list(csv.DictReader(file))
    assert [r["method"] for r in rows] == ["source-only", "dann"]
    for row in rows:
        accs = [float(a) for a in row["target_accs"].split()]
        assert len(accs) == 2 and float(row["target_acc_mean"]) == pytest.approx(statistics.fmean(accs), abs=1e-4)
    assert "| dann |" in md.read_text()
    # a second call reuses the finished runs instead of training again
    again = run_multi_seed(tiny_config, [0, 1], ["dann"], out=tmp_path, progress=progress.append, registry=registry)
    assert all("reused" in line for line in progress[-2:])
    assert [s["target_test_acc"] for s in again] == [s["target_test_acc"] for s in summaries[2:4]]
