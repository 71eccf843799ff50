"""Set-level selectors (``Selector.score_all``), the stored views every evaluation writes, the public
reader of a run directory (``StoredRun``), and collapsed evaluations left out of every choice."""
from __future__ import annotations

import dataclasses
import importlib
import json
import re
import sys

import pytest
import torch

from dann_core import checkpoint
from dann_core.selection import Candidate, SelectionData, Selector, choose
from dann_core.testing import registry_with
from dann_core.train import fit, train
from dann_core.train.stored import StoredRun
from dann_evaluation.report import select_report
from tests.paths import TEST_PLUGINS

PLUGINS = TEST_PLUGINS  # the test plugins' directory


@pytest.fixture
def ensv_plugin():
    sys.path.insert(0, str(PLUGINS))
    try:
        yield importlib.import_module("dann_testplugin_ensv")
    finally:
        sys.path.remove(str(PLUGINS))


def ensv_choice(run_dir, registry=None) -> tuple[int, dict[int, float]]:
    """EnsV computed here from the stored views of every healthy step: the step it chooses and the scores."""
    stored = StoredRun(run_dir, registry=registry)
    probs = {s: stored.view_candidate(s).view_logits("target").softmax(1) for s in stored.healthy_steps}
    ensemble = torch.stack(list(probs.values())).mean(0).argmax(1)
    scores = {s: float((p.argmax(1) == ensemble).float().mean()) for s, p in probs.items()}
    best = max(scores.values())
    return max(s for s, v in scores.items() if v == best), scores  # ties: the later step


def test_a_third_party_ensv_is_a_few_dozen_lines_of_public_api(ensv_plugin, tmp_path, tiny_config):
    source = (PLUGINS / "dann_testplugin_ensv.py").read_text()
    assert len(source.splitlines()) <= 60
    assert not re.search(r"\._\w|import _|from \S+\._", source)  # nothing private
    registry = registry_with(ensv_plugin)
    cfg = dataclasses.replace(tiny_config, steps=40, eval_every=5, select="ensv-test", keep_candidates=1)
    summary = train(cfg, tmp_path / "run", registry=registry)
    step, _ = ensv_choice(tmp_path / "run", registry)
    assert summary["best_step"] == step and checkpoint.load(tmp_path / "run" / "best.pt")["step"] == step
    rows = {r["selector"]: r for r in select_report(tmp_path / "run", registry=registry, skip=("reverse-val", "dev", "classami"))["rows"]}
    assert rows["ensv-test"]["step"] == rows["ensv"]["step"] == step
    assert rows["ensv"]["scored_on"] == "every evaluation (stored views)"


def test_a_set_level_select_chooses_among_every_evaluated_step_then_keeps_the_usual_candidates(tmp_path, tiny_config):
    cfg = dataclasses.replace(tiny_config, steps=40, eval_every=5, select="ensv", keep_candidates=1)
    summary = train(cfg, tmp_path / "run")
    step, scores = ensv_choice(tmp_path / "run")
    assert len(scores) == 8 and summary["best_step"] == step and summary["selector_score"] == pytest.approx(scores[step])
    kept = sorted(int(p.stem.split("-")[1]) for p in (tmp_path / "run" / "candidates").glob("step-*.pt"))
    assert kept == sorted({40, step})  # every step was kept until the choice; then the last and the chosen one
    assert len(list((tmp_path / "run" / "views").glob("step-*.pt"))) == 8


def test_an_in_memory_run_chooses_by_a_set_level_selector(tiny_config):
    trained = fit(dataclasses.replace(tiny_config, select="ensv"))
    assert trained.summary["best_step"] in {5, 10, 15, 20} and trained.step == trained.summary["best_step"]


class FeatureSpread(Selector):
    """A set-level selector that needs features: each candidate's mean feature norm over the set's mean."""

    set_level, per_eval = True, False

    def score_all(self, candidates):
        norms = [float(c.features(c.data.view("target")).norm(dim=1).mean()) for c in candidates]
        mean = sum(norms) / len(norms)
        return [-abs(n - mean) for n in norms]


class _FeaturePlugin:
    from dann_core import hookimpl

    @hookimpl
    def register_selectors(self):
        from dann_core.specs import ComponentSpec

        return [ComponentSpec.from_factory("feature-spread", FeatureSpread)]


def test_a_set_level_selector_that_needs_features_scores_the_kept_weights(tmp_path, tiny_config):
    registry = registry_with(_FeaturePlugin())
    summary = train(dataclasses.replace(tiny_config, select="feature-spread"), tmp_path / "run", registry=registry)
    stored = StoredRun(tmp_path / "run", registry=registry)
    report = {r["selector"]: r for r in select_report(tmp_path / "run", registry=registry, skip=("reverse-val",))["rows"]}
    assert report["feature-spread"]["scored_on"] == "2 kept candidates"  # the run kept its choice and the last
    # each kept candidate computed its features with its own weights (loaded in turn into one model)
    candidates = stored.kept_candidates()
    norms = [float(c.features(c.data.view("target")).norm(dim=1).mean()) for c in candidates]
    assert len(set(norms)) == len(norms) and summary["best_step"] in stored.kept_steps


def test_stored_views_hold_exactly_the_live_candidates_logits(tmp_path, tiny_config):
    train(dataclasses.replace(tiny_config, keep_candidates=8), tmp_path / "run")
    stored = StoredRun(tmp_path / "run")
    assert stored.view_steps == stored.steps == [5, 10, 15, 20] and stored.kept_steps == [5, 10, 15, 20]
    for step in stored.steps:
        from_views, with_weights = stored.view_candidate(step), stored.kept_candidate(step)
        for name in ("source_val", "target", "target_mix"):
            assert torch.equal(from_views.view_logits(name), with_weights.view_logits(name)), (step, name)


def test_collapsed_evaluations_enter_no_set_and_no_choice(tmp_path, tiny_config):
    cfg = dataclasses.replace(tiny_config, steps=40, eval_every=5, keep_candidates=8, score="entropy")
    train(cfg, tmp_path / "run")
    path = tmp_path / "run" / "metrics.jsonl"
    records = [json.loads(line) for line in path.read_text().splitlines()]
    dead = {30, 35, 40}
    for record in records:
        record["collapsed"] = record["step"] in dead
        record["selectors"]["entropy"] = -1.0 if record["step"] in dead else record["selectors"]["entropy"] + 1.0  # dead steps would win
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    rows = {r["selector"]: r for r in select_report(tmp_path / "run", cache=False, skip=("reverse-val",))["rows"]}
    assert all(row["step"] is None or row["step"] not in dead for row in rows.values()), rows
    assert rows["entropy"]["scored_on"] == "every evaluation (3 collapsed left out)"
    assert rows["last"]["step"] == 25
    step, scores = ensv_choice(tmp_path / "run")
    assert set(scores) == {5, 10, 15, 20, 25} and rows["ensv"]["step"] == step
    assert rows["ensv"]["score"] == pytest.approx(scores[step])


def test_score_all_scores_each_candidate_of_a_per_candidate_selector_and_set_level_needs_score_all():
    class Steps(Selector):
        def score(self, candidate):
            return float(candidate.step)

    class Broken(Selector):
        set_level = True

    data = SelectionData(None, None, torch.zeros(3, 2), 2)
    candidates = [Candidate(step, None, data) for step in (3, 1, 2)]
    assert Steps().score_all(candidates) == [3.0, 1.0, 2.0]
    assert choose(zip((3, 1, 2), Steps().score_all(candidates)), Steps()) == 3
    with pytest.raises(NotImplementedError, match="Broken is set_level: it must implement score_all"):
        Broken().score_all(candidates)


@pytest.mark.parametrize("name", ["ensv", "mixval", "iw", "bnm", "classami"])
def test_the_plugin_authors_contract_check_accepts_the_new_selectors(name):
    from dann_core.testing import check_selector

    assert check_selector(name).set_level == (name == "ensv")
