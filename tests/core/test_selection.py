"""Model selection without target labels: selector maths on known answers, the trainer's candidates,
``dann eval select`` and sweeps by selector; no selector can see a target label."""
from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from dann_core.cli import build_cli
from dann_core.selection import Selector, choose, top_steps
from dann_core.plugins import UnknownComponentError, get_registry
from dann_core.specs import Split
from dann_core.train import fit, train
from dann_evaluation.report import candidate_score, select_report
from dann_selectors.dev import density_ratios, dev_risk
from dann_selectors.target import soft_neighbourhood_density


class Higher(Selector):
    pass


class Lower(Selector):
    higher_is_better = False


def test_choice_prefers_the_best_score_and_the_later_step_on_ties():
    scored = [(100, 0.5), (200, 0.7), (300, 0.7), (400, None)]
    assert choose(scored, Higher()) == 300 and choose(scored, Lower()) == 100
    assert choose([(1, None)], Higher()) is None
    history = [{"step": s, "scores": {"x": v}} for s, v in scored]
    assert top_steps(history, "x", Higher(), 2) == {200, 300}


def test_dev_risk_is_the_plain_mean_when_weights_are_constant_and_corrects_with_its_control_variate():
    losses = np.array([0.2, 0.4, 0.9, 1.3])
    assert dev_risk(losses, np.ones(4)) == pytest.approx(losses.mean())
    rng = np.random.default_rng(0)
    weights = rng.exponential(size=20000)
    losses = 1.0 + 0.1 * rng.standard_normal(20000)
    # E[w·ℓ] = E[w]·E[ℓ]; with w normalised to mean 1 the control variate removes w's noise: ≈ E[ℓ] = 1
    assert dev_risk(losses, weights / weights.mean()) == pytest.approx(1.0, abs=0.01)


def test_density_ratios_recover_an_analytic_covariate_shift():
    # source N(0, 1), target N(1, 1): the true ratio is p_t(x)/p_s(x) = exp(x - 1/2), linear log-odds.
    rng = np.random.default_rng(1)
    source, target = rng.normal(0, 1, (4000, 1)), rng.normal(1, 1, (4000, 1))
    grid = np.linspace(-1.5, 1.5, 7)[:, None]
    estimated = density_ratios(source, target, grid, C=10.0).numpy()
    assert np.allclose(np.log(estimated), grid[:, 0] - 0.5, atol=0.15)


def test_snd_is_higher_for_clustered_predictions_and_entropy_lower_for_confident_ones():
    # 60 confident predictions over 10 classes: in 3 dense groups of 20, or scattered over all 10 classes
    confident = torch.eye(10) * 0.9 + 0.01
    clustered = confident[torch.arange(60) // 20]
    scattered = confident[torch.arange(60) % 10]
    assert soft_neighbourhood_density(clustered) > soft_neighbourhood_density(scattered)
    registry = get_registry()
    entropy = registry.build("selector", "entropy", {})
    assert entropy.higher_is_better is False


def _selector_scores(summary_history):
    return [(h["step"], h["scores"]) for h in summary_history]


def test_selectors_never_read_target_labels(tiny_config):
    registry = get_registry()
    data = registry.build("dataset", "moons", tiny_config.dataset_options, seed=0)
    poisoned = dataclasses.replace(
        data,
        target_train=Split(data.target_train.x, torch.randint(0, 2, (len(data.target_train),), generator=torch.Generator().manual_seed(9))),
        target_test=Split(data.target_test.x, 1 - data.target_test.y),
    )
    from dann_core.train import Trainer

    runs = []
    for d in (data, poisoned):
        trainer = Trainer(dataclasses.replace(tiny_config, select="dev", score="all"), data=d, registry=registry)
        trainer.run()
        runs.append(trainer)
    assert _selector_scores(runs[0].evaluation.pool.history) == _selector_scores(runs[1].evaluation.pool.history)
    assert runs[0].evaluation.best["step"] == runs[1].evaluation.best["step"]
    assert runs[0].evaluation.best["target_test_acc"] != runs[1].evaluation.best["target_test_acc"]  # the labels did change


def test_run_keeps_a_bounded_set_of_candidates_and_best_follows_the_selector(tmp_path, tiny_config):
    cfg = dataclasses.replace(tiny_config, steps=40, eval_every=5, select="source-val", keep_candidates=1, score="all")
    summary = train(cfg, tmp_path / "run")
    lines = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    per_eval = set(lines[0]["selectors"])
    assert {"last", "source-val", "dev", "entropy", "snd"} <= per_eval and "reverse-val" not in per_eval
    stored = sorted((tmp_path / "run" / "candidates").glob("step-*.pt"))
    assert 1 <= len(stored) <= 1 + len(per_eval) and any(p.name == "step-0000040.pt" for p in stored)
    chosen = choose([(line["step"], line["selectors"]["source-val"]) for line in lines], get_registry().build("selector", "source-val", {}))
    assert summary["best_step"] == chosen and summary["selector"] == "source-val"
    assert summary["target_test_acc"] == next(line["target_test_acc"] for line in lines if line["step"] == chosen)
    assert summary["final"]["step"] == 40


def test_a_run_scores_its_selector_and_last_unless_asked_for_more(tmp_path, tiny_config):
    train(dataclasses.replace(tiny_config, select="entropy"), tmp_path / "default")
    lines = [json.loads(line) for line in (tmp_path / "default" / "metrics.jsonl").read_text().splitlines()]
    assert all(set(line["selectors"]) == {"entropy", "last"} for line in lines)
    train(dataclasses.replace(tiny_config, score="dev, snd"), tmp_path / "more")
    lines = [json.loads(line) for line in (tmp_path / "more" / "metrics.jsonl").read_text().splitlines()]
    assert all(set(line["selectors"]) == {"last", "dev", "snd"} for line in lines)
    with pytest.raises(UnknownComponentError, match="unknown selector 'dve'"):
        train(dataclasses.replace(tiny_config, score="dve"), tmp_path / "bad")
    assert not (tmp_path / "bad").exists()


def test_eval_select_from_stored_views_chooses_as_scores_logged_during_training(tmp_path, tiny_config):
    train(dataclasses.replace(tiny_config, score="entropy"), tmp_path / "views")  # entropy computed the target view
    train(dataclasses.replace(tiny_config, score="all"), tmp_path / "logged")
    reports = [{row["selector"]: row for row in select_report(tmp_path / run)["rows"]} for run in ("views", "logged")]
    for name in ("source-val", "snd"):
        assert reports[0][name]["scored_on"] == "every evaluation (stored views)"
        assert reports[1][name]["scored_on"] == "every evaluation"
        assert (reports[0][name]["step"], reports[0][name]["score"]) == (reports[1][name]["step"], reports[1][name]["score"]), name


def test_reverse_val_scores_the_kept_candidates_when_the_run_ends(tiny_config):
    trained = fit(dataclasses.replace(tiny_config, select="reverse-val", select_options={"steps": 10}))
    assert trained.summary["selector"] == "reverse-val" and 0.0 <= trained.summary["selector_score"] <= 1.0
    assert trained.summary["best_step"] in {5, 10, 15, 20}


def test_eval_select_reports_every_selector_with_its_regret(tmp_path, tiny_config):
    train(tiny_config, tmp_path / "run")
    result = CliRunner().invoke(build_cli(), ["eval", "select", str(tmp_path / "run"), "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    rows = {row["selector"]: row for row in report["rows"]}
    assert set(rows) == set(get_registry().selectors)
    assert rows["last"]["step"] == 20 and rows["last"]["run_selector"]
    assert all(row["regret_reported_only"] >= 0 for row in rows.values())
    assert rows["reverse-val"]["scored_on"].endswith("kept candidates")
    assert rows["dev"]["scored_on"].endswith("kept candidates")  # it needs features: not in the stored views
    for name in ("source-val", "entropy", "snd", "ensv", "mixval", "iw", "bnm", "atc"):  # logits of the views every evaluation stores
        assert rows[name]["scored_on"] == "every evaluation (stored views)", name
    assert rows["classami"]["scored_on"].endswith("kept candidates")  # features
    assert all(0.0 <= row["target_acc_estimate"] <= 1.0 for row in rows.values())
    text = CliRunner().invoke(build_cli(), ["eval", "select", str(tmp_path / "run")]).output
    assert "regret" in text and "reported only" in text


def test_one_candidates_score_is_the_reports_and_shares_its_cache(tmp_path, tiny_config, monkeypatch):
    train(tiny_config, tmp_path / "run")
    options = {"steps": 10}
    final = candidate_score(tmp_path / "run", 20, "reverse-val", options=options)
    rows = {row["selector"]: row for row in select_report(tmp_path / "run", options={"reverse-val": options})["rows"]}
    assert 0.0 <= final <= 1.0
    if rows["reverse-val"]["step"] == 20:
        assert rows["reverse-val"]["score"] == final
    # the second call reads the cache: scoring again would fail here
    monkeypatch.setattr("dann_evaluation.report._score_kept", lambda *a: pytest.fail("scored again"))
    assert candidate_score(tmp_path / "run", 20, "reverse-val", options=options) == final
    with pytest.raises(ValueError, match="step-0000007.pt: no such kept candidate"):
        candidate_score(tmp_path / "run", 7, "reverse-val")


def test_sweep_by_a_selector_and_last_is_refused(tmp_path):
    args = ["sweep", "--grid", "lambda=0,schedule", "--steps", "10", "--set", "eval_every=5",
            "--set", "batch_size=16", "--set", "dataset.n_per_class=20", "--set", "dataset.n_test_per_class=20", "--out", str(tmp_path / "s"), "--json"]
    result = CliRunner().invoke(build_cli(), [*args, "--select", "dev"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert "lowest score of selector dev" in report["selection"] and report["selected"] is not None
    refused = CliRunner().invoke(build_cli(), [*args, "--select", "last"])
    assert refused.exit_code == 2 and "cannot compare configurations" in refused.output


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["run", "--select", "nope"], "unknown selector 'nope';"),
        (["run", "--method", "cdan", "--set", "method.entropy=maybe"], "option 'entropy' expects true or false"),
        (["run", "--method", "cdan", "--set", "method.multilinear=wide"], "bad cdan multilinear 'wide': choose from auto, exact, random"),
        (["run", "--select", "reverse-val", "--set", "select.steps=-1"], "reverse-val selector: steps must be ≥ 0"),
        (["table", "--methods", "cdan[entropy=true", "--steps", "5"], "bad method 'cdan[entropy=true': write NAME or NAME[OPTION=VALUE,...]"),
    ],
)
def test_bad_method_and_selector_input_is_one_line_and_leaves_no_run_dir(tmp_path, args, fragment):
    out = tmp_path / "r"
    result = CliRunner().invoke(build_cli(), [*args, "--out", str(out)])
    errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert result.exit_code == 2 and len(errors) == 1 and fragment in errors[0], result.output
    assert "Traceback" not in result.output and not out.exists()


def test_eval_select_on_a_directory_that_is_not_a_run(tmp_path):
    result = CliRunner().invoke(build_cli(), ["eval", "select", str(tmp_path)])
    assert result.exit_code == 2 and f"Error: {tmp_path} is not a run directory (no config.json)" in result.output
