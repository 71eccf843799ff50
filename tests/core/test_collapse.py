"""A collapsed run is recognised, recorded per evaluation, never chosen, and ends with one line.

The rule (dann_core/train/health.py) is checked on recorded metric sequences: a real collapse
(an MNIST → MNIST-M-like task at lr 0.03: label loss 2.8 → 7.0 → log 10, source val 0.97 → 0.0775),
the first evaluations of runs still learning (digits-blend, moons) and a run that is merely poor.
End to end, a test method that wrecks its classifier at a chosen step collapses a seconds-long moons
run: the summary's state, the line, metrics.jsonl, the kept candidates and best.pt are checked.
"""
from __future__ import annotations

import dataclasses
import json
import math

import pytest
import torch
import torch.nn.functional as F

from dann_core import checkpoint, hookimpl
from dann_core.methods import SOURCE, Method, accuracy
from dann_core.specs import ComponentSpec
from dann_core.testing import registry_with, tiny_config
from dann_core.train import fit, health, train


def judge(sequence, num_classes=10, chance=None):
    """The verdicts of :func:`health.assess` over a sequence of evaluation records, in order."""
    chance = 1.0 / num_classes if chance is None else chance
    history, verdicts = [], []
    for record in sequence:
        verdict = health.assess(record, history, chance, num_classes)
        history.append({**record, "collapsed": verdict.collapsed})
        verdicts.append(verdict.collapsed)
    return verdicts


def records(*rows):
    keys = ("step", "label_loss", "source_val_acc", "top_class_share")
    return [dict(zip(keys, row)) for row in rows]


# The run (dann, lr 0.03, real MNIST digits → full-intensity photo blend): trained normally to
# step 600, collapsed at 700; the label loss then stayed at log 10 with the domain loss at log 2.
MNIST_M_LIKE_COLLAPSE = records(
    (100, 1.90, 0.71, 0.18), (200, 0.62, 0.88, 0.12), (300, 0.31, 0.93, 0.11), (400, 0.20, 0.95, 0.11),
    (500, 0.15, 0.96, 0.11), (600, 0.12, 0.97, 0.10), (700, 2.80, 0.0775, 1.0), (800, 7.00, 0.0775, 1.0),
    (900, 2.303, 0.0775, 1.0), (1000, 2.303, 0.0775, 1.0),
)


# Recorded: `dann run --dataset digits-blend --set dataset.photo_intensity=1.0 --seed 0 --threads 1`
# (lr 0.03; metrics.jsonl before top_class_share existed). The label head's ReLUs died between steps
# 660 and 693 (docs/methods.md#collapse); step 700's window still averages healthy steps in.
DIGITS_BLEND_FULL_INTENSITY_SEED_0 = records(
    (100, 1.205, 0.8940, None), (200, 0.171, 0.9270, None), (300, 0.136, 0.9470, None), (400, 0.053, 0.9430, None),
    (500, 0.043, 0.9590, None), (600, 0.066, 0.9500, None), (700, 1.837, 0.0720, None), (800, 2.309, 0.0880, None),
    (900, 2.302, 0.0880, None), (1000, 2.302, 0.0580, None), (1100, 2.303, 0.0880, None), (1200, 2.302, 0.0880, None),
    (1300, 2.303, 0.0880, None), (1400, 2.302, 0.0580, None),
)


def test_the_recorded_collapse_is_recognised_from_its_first_dead_evaluation_on():
    assert judge(MNIST_M_LIKE_COLLAPSE) == [False] * 6 + [True] * 4


def test_a_real_digits_blend_collapse_is_recognised_from_its_label_loss_alone():
    assert judge(DIGITS_BLEND_FULL_INTENSITY_SEED_0) == [False] * 7 + [True] * 7
    with_share = [{**r, "top_class_share": 1.0 if r["step"] >= 700 else 0.12} for r in DIGITS_BLEND_FULL_INTENSITY_SEED_0]
    assert judge(with_share) == [False] * 6 + [True] * 8  # constant predictions flag step 700 already


def test_either_degenerate_sign_suffices_and_neither_alone_is_enough_without_the_fall():
    constant_only = records((100, 0.2, 0.95, 0.1), (200, 0.5, 0.10, 0.95))  # label loss low, one class predicted
    loss_only = records((100, 0.2, 0.95, 0.1), (200, 2.2, 0.10, 0.3))  # spread predictions, loss at log K
    assert judge(constant_only) == [False, True]
    assert judge(loss_only) == [False, True]
    neither = records((100, 0.2, 0.95, 0.1), (200, 0.9, 0.12, 0.3))  # poor but neither constant nor at log K
    assert judge(neither) == [False, False]
    fallen_but_above_chance = records((100, 0.2, 0.95, 0.1), (200, 2.3, 0.45, 1.0))
    assert judge(fallen_but_above_chance) == [False, False]


def test_a_run_still_learning_at_its_start_is_not_collapsed():
    # the first evaluations of a digits-blend run at lr 0.03 (photo_intensity 1.0, recorded) and of a
    # 10-class run that starts at chance with constant predictions and a label loss at log K
    digits_blend = records((100, 1.205, 0.894, None), (200, 0.171, 0.927, None), (300, 0.136, 0.947, None), (400, 0.053, 0.943, None))
    slow_start = records((100, 2.30, 0.10, 1.0), (200, 2.29, 0.11, 0.9), (300, 2.1, 0.25, 0.6), (400, 1.2, 0.60, 0.2))
    assert judge(digits_blend) == [False] * 4
    assert judge(slow_start) == [False] * 4


def test_a_run_that_recovers_is_healthy_again_and_the_run_ends_healthy():
    sequence = MNIST_M_LIKE_COLLAPSE[:8] + records((900, 1.1, 0.55, 0.2), (1000, 0.4, 0.9, 0.11))
    verdicts = judge(sequence)
    assert verdicts == [False] * 6 + [True, True, False, False]
    history = [{**r, "collapsed": v} for r, v in zip(sequence, verdicts)]
    assert health.collapse_start(history) is None
    assert health.collapse_start(history[:8]) == 700


# Recorded: the selection pool's digits-blend dann seed 0 (benchmarks.selection_pool, 1500 steps): at
# step 1400 it collapsed; at 1500 it sat at source val 0.294, label loss 1.85, 39% one class: neither
# at chance nor degenerate, and `last` reported target 0.202 where step 1300 had 0.816.
DIGITS_BLEND_POOL_DANN_SEED_0 = records(
    (1100, 0.021, 0.957, 0.141), (1200, 0.024, 0.964, 0.147), (1300, 0.023, 0.963, 0.148),
    (1400, 2.319, 0.167, 0.573), (1500, 1.852, 0.294, 0.388),
)


def test_a_run_stays_collapsed_until_it_is_back_at_the_learned_level():
    assert judge(DIGITS_BLEND_POOL_DANN_SEED_0) == [False, False, False, True, True]
    relearned = DIGITS_BLEND_POOL_DANN_SEED_0 + records((1600, 0.9, 0.50, 0.2), (1700, 0.3, 0.80, 0.12))
    assert judge(relearned) == [False, False, False, True, True, True, False]  # 0.50 < 0.55, the learned level
    history = [{**r, "collapsed": True} for r in DIGITS_BLEND_POOL_DANN_SEED_0[3:4]]
    verdict = health.assess(DIGITS_BLEND_POOL_DANN_SEED_0[4], DIGITS_BLEND_POOL_DANN_SEED_0[:3] + history, 0.1, 10)
    assert verdict.reason == "not recovered from the collapse: source val acc 0.294 below the learned level 0.550"


def test_two_classes_use_their_own_chance_level():
    moons_like = records((5, 0.69, 0.5, 1.0), (10, 0.5, 0.86, 0.5), (15, 0.69, 0.5, 1.0))
    assert judge(moons_like, num_classes=2) == [False, False, True]
    # 80% of source val is one class: predicting it everywhere is chance, 0.88 is not yet "learned" (< 0.9)
    imbalanced = records((5, 0.3, 0.88, 0.9), (10, 0.6, 0.80, 1.0), (15, 0.2, 0.95, 0.8), (20, 0.6, 0.80, 1.0))
    assert judge(imbalanced, num_classes=2, chance=0.8) == [False, False, False, True]


def test_chance_level_and_top_class_share():
    assert health.chance_level(torch.tensor([0, 0, 0, 1]), 2) == 0.75
    assert health.chance_level(torch.tensor([0, 1, 2, 3]), 10) == 0.25
    assert health.chance_level(None, 10) == 0.1
    logits = torch.tensor([[1.0, 0.0], [2.0, 0.0], [0.0, 1.0], [3.0, 0.0]])
    assert health.top_class_share(logits) == 0.75


def test_the_collapse_line_names_the_step_the_kept_step_and_what_to_try():
    line = health.collapse_line(700, "source val acc 0.078 at chance", 600)
    assert "\n" not in line and "step 700" in line and "best.pt is step 600" in line and "--lr" in line


def test_moons_first_steps_with_the_default_recipe_never_collapse():
    """Real metrics: the default moons run (the JMLR toy, λ = 6, lr 0.1) evaluated every 25 steps."""
    cfg = dataclasses.replace(tiny_config(), steps=400, eval_every=25, lr=0.1, batch_size=32, method_options={"lambda": 6.0},
                              kernels="auto", threads=1)
    trainer_summary = fit(cfg).summary
    assert trainer_summary["state"] == "trained" and trainer_summary["collapse_step"] is None


# ------------------------------------------------------------------------------------- end to end

WRECK_AT = 60


class WreckedAtStep(Method):
    """Source-only training that, from step WRECK_AT on, drives every logit to one class (what a
    collapsed adversarial game ends in: constant predictions, label loss far above log K)."""

    needs = frozenset({SOURCE})

    def objective(self, batch):
        logits = self.model(batch.source_x)
        label_loss = F.cross_entropy(logits, batch.source_y)
        if self.steps_done >= WRECK_AT:
            wrong = torch.zeros_like(batch.source_y)  # everything is class 0
            loss = F.cross_entropy(logits, wrong)
        else:
            loss = label_loss
        return loss, {"label_loss": label_loss.detach(), "train_acc": accuracy(logits, batch.source_y)}


class _Plugin:
    @staticmethod
    @hookimpl
    def register_methods():
        return [ComponentSpec.from_factory("wrecked-at-step", WreckedAtStep)]


@pytest.fixture
def wrecked_config():
    cfg = tiny_config()
    return dataclasses.replace(cfg, method="wrecked-at-step", method_options={}, steps=100, eval_every=10, lr=0.3,
                               dataset_options={"n_per_class": 60, "n_test_per_class": 40}, threads=1)


def test_a_collapsing_run_says_so_and_never_chooses_the_collapsed_weights(tmp_path, wrecked_config, capsys):
    registry = registry_with(_Plugin)
    summary = train(wrecked_config, tmp_path / "run", registry=registry)
    lines = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    flags = {r["step"]: r["collapsed"] for r in lines}
    assert all("collapsed" in r and "top_class_share" in r for r in lines)
    assert not any(flags[s] for s in flags if s <= WRECK_AT) and flags[100]
    start = summary["collapse_step"]
    assert summary["state"] == "collapsed" and WRECK_AT < start <= 100
    assert all(flags[s] for s in flags if s >= start)
    assert "\n" not in summary["warning"] and f"collapsed at step {start}" in summary["warning"]
    assert summary["best_step"] < start and summary["best_source_val_acc"] > 0.75  # `last` took the last healthy step
    best = checkpoint.load(tmp_path / "run" / "best.pt")
    assert best["step"] == summary["best_step"]
    kept = sorted(int(p.stem.split("-")[1]) for p in (tmp_path / "run" / "candidates").glob("step-*.pt"))
    assert kept and all(not flags[s] for s in kept)
    saved = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert saved["state"] == "collapsed" and saved["collapse_step"] == start


@pytest.mark.parametrize("select", ["source-val", "entropy"])
def test_no_selector_chooses_a_collapsed_step(tmp_path, wrecked_config, select):
    # entropy prefers confident predictions: the constant network is its best score, unless excluded
    cfg = dataclasses.replace(wrecked_config, select=select)
    summary = train(cfg, tmp_path / "run", registry=registry_with(_Plugin))
    assert summary["state"] == "collapsed" and summary["best_step"] < summary["collapse_step"]


def test_the_cli_prints_the_collapse_line(tmp_path, wrecked_config, monkeypatch):
    from click.testing import CliRunner

    from dann_core.cli import build_cli

    config = tmp_path / "c.json"
    config.write_text(json.dumps({**{k: v for k, v in wrecked_config.to_dict().items() if k != "out"}}))
    registry = registry_with(_Plugin)
    monkeypatch.setattr("dann_core.plugins.get_registry", lambda *a, **k: registry)
    result = CliRunner().invoke(build_cli(), ["run", "--config", str(config), "--out", str(tmp_path / "run"), "--quiet"])
    assert result.exit_code == 0, result.output
    warning = [line for line in result.output.splitlines() if line.startswith("collapsed at step")]
    assert len(warning) == 1 and "best.pt is step" in warning[0]


def test_an_in_memory_run_keeps_the_healthy_weights(wrecked_config):
    run = fit(wrecked_config, registry=registry_with(_Plugin))
    assert run.summary["state"] == "collapsed" and run.step < run.summary["collapse_step"]
    x = run.data.source_val.x
    predicted = run.model(x).argmax(dim=1)
    assert (predicted == run.data.source_val.y).float().mean() > 0.75 and not math.isclose(
        float((predicted == 0).float().mean()), 1.0)


def test_sweep_status_collect_and_tables_show_a_collapsed_job(tmp_path, wrecked_config, monkeypatch):
    from click.testing import CliRunner

    from dann_core.cli import build_cli
    from dann_evaluation import jobs
    from dann_evaluation.sweep import collect
    from dann_evaluation.tables import aggregate, describe_table_job, format_markdown

    registry = registry_with(_Plugin)
    monkeypatch.setattr("dann_core.train.loop.get_registry", lambda *a, **k: registry)
    monkeypatch.setattr("dann_core.plugins.get_registry", lambda *a, **k: registry)
    wrecked_config = dataclasses.replace(wrecked_config, select="source-val")  # a sweep compares runs by it
    healthy_config = dataclasses.replace(wrecked_config, method="source-only")
    collapsed = jobs.write_job(tmp_path, wrecked_config, {"method": "wrecked-at-step", "seed": 0}, 0, "table")
    healthy = jobs.write_job(tmp_path, healthy_config, {"method": "source-only", "seed": 0}, 1, "table")
    assert jobs.run_job(collapsed) == "collapsed" and jobs.run_job(healthy) == "done"
    state = jobs.job_state(collapsed)
    assert state.state == "collapsed" and state.error.startswith("collapsed at step")
    assert jobs.run_job(collapsed) == "collapsed"  # finished: never trained again

    status = CliRunner().invoke(build_cli(), ["sweep", "status", str(tmp_path)])
    assert status.exit_code == 0, status.output
    assert "2 jobs: 1 collapsed, 1 done" in status.output and f"{collapsed.name}  collapsed" in status.output

    rows = {row["id"]: row for row in collect(tmp_path, registry=registry)["rows"]}
    assert rows[collapsed.name]["status"] == "collapsed" and not rows[collapsed.name]["selected"]
    assert rows[collapsed.name]["score"] is not None  # its best.pt (a healthy step) is scored, never selected
    assert rows[healthy.name]["selected"]

    line = describe_table_job(collapsed, state)
    assert "target acc" in line and "collapsed at step" in line
    summary = {**json.loads((collapsed / "run" / "summary.json").read_text()), "label": "wrecked-at-step"}
    table = format_markdown(aggregate([summary]))
    assert "(n=1, 1 collapsed)" in table
