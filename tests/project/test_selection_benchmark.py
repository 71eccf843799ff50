"""The selection benchmark: Musgrave et al.'s weighted Spearman against a direct computation, and
benchmarks.selection_table end to end on a tiny pool (scores reused from each run's cache)."""
from __future__ import annotations

import csv
import dataclasses
import math

import numpy as np
import pytest

from benchmarks import selection_table
from benchmarks.selection_metrics import weighted_spearman
from dann_core.train import train
from dann_evaluation.report import select_report


def direct_weighted_spearman(x, y, power=2.0):
    """The definition written out with loops: weights max(dense rank x, dense rank y)/max ^ power; ranks
    averaged over ties weighted by those weights; then the weighted Pearson correlation of the ranks."""
    x, y = np.asarray(x, float), np.asarray(y, float)

    def dense(v):
        levels = sorted(set(v))
        return np.array([levels.index(a) + 1 for a in v], float) / len(levels)

    w = np.maximum(dense(x), dense(y)) ** power

    def ranks(v):
        out = np.zeros(len(v))
        for i, a in enumerate(v):
            below = sum(w[j] for j in range(len(v)) if v[j] < a)
            tied = [j for j in range(len(v)) if v[j] == a]
            out[i] = below + (len(tied) + 1) / 2 * (sum(w[j] for j in tied) / len(tied))
        return out

    rx, ry = ranks(x), ranks(y)
    mx, my = np.sum(w * rx) / w.sum(), np.sum(w * ry) / w.sum()
    return np.sum(w * (rx - mx) * (ry - my)) / math.sqrt(np.sum(w * (rx - mx) ** 2) * np.sum(w * (ry - my) ** 2))


@pytest.mark.parametrize("seed", range(5))
def test_weighted_spearman_matches_its_definition(seed):
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 8, 25).astype(float)  # ties included
    y = 0.5 * x + rng.normal(size=25)
    assert weighted_spearman(x, y) == pytest.approx(direct_weighted_spearman(x, y), abs=1e-12)
    assert weighted_spearman([1, 2, 3, 4], [0.1, 0.2, 0.3, 0.4]) == pytest.approx(1.0)
    assert weighted_spearman([4, 3, 2, 1], [0.1, 0.2, 0.3, 0.4]) < -0.9  # weighted ranks: not exactly -1
    assert math.isnan(weighted_spearman([1, 2], [1, 2])) and math.isnan(weighted_spearman([1, 1, 1], [1, 2, 3]))


def test_the_selection_table_scores_a_pool_without_retraining(tmp_path, tiny_config):
    for label, seed in (("dann", 0), ("dann[lambda=0.1]", 0), ("source-only", 0)):
        name, _, options = label.partition("[")
        method_options = dict(item.split("=") for item in options.rstrip("]").split(",")) if options else {"lambda": "schedule"}
        cfg = dataclasses.replace(tiny_config, method=name, method_options=method_options if name == "dann" else {}, seed=seed, keep_candidates=100)
        train(cfg, tmp_path / "pool" / "moons" / f"{label}-s{seed}")
    prefix = tmp_path / "table"
    args = ["--runs", str(tmp_path / "pool"), "--only", "moons", "--selectors", "last,source-val,ensv,entropy", "--write-prefix", str(prefix)]
    assert selection_table.main(args) == 0
    rows = list(csv.DictReader(prefix.with_suffix(".csv").open()))
    levels = {(r["level"], r["selector"]) for r in rows}
    assert ("within run", "last") in levels and ("setting", "ensv") in levels and ("method", "source-val") in levels
    assert ("setting", "last") not in levels  # last's scores are steps: not comparable across runs
    within = {r["selector"]: r for r in rows if r["level"] == "within run"}
    reports = [select_report(tmp_path / "pool" / "moons" / run, skip=("reverse-val", "dev", "classami"))["rows"]
               for run in ("dann-s0", "dann[lambda=0.1]-s0", "source-only-s0")]
    for name in ("last", "source-val", "ensv", "entropy"):
        chosen = [next(r for r in report if r["selector"] == name)["target_test_acc_reported_only"] for report in reports]
        assert float(within[name]["target_acc_mean"]) == pytest.approx(np.mean(chosen), abs=1e-4)
        assert 0.0 <= float(within[name]["share_5pt_below_source_only"]) <= 1.0
    assert "**within run**" in prefix.with_suffix(".md").read_text()


def test_a_choice_far_below_source_only_counts_as_avoidable_only_where_a_candidate_was_within_5_points():
    reference = {0: 0.80, 1: 0.60}
    found = [(0.70, 0.79, 0), (0.50, 0.54, 1), (0.77, 0.90, 0), (0.10, 0.90, 2)]  # seed 2: no source-only run
    gaps, avoidable = selection_table.versus_source_only(found, reference)
    assert gaps == pytest.approx([-0.10, -0.10, -0.03])
    assert avoidable == [True, False, False]  # the second run's best step was 6 points below: unavoidable
