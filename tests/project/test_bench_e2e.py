"""bench_e2e's plain script does the work dann does: dann's recipe, dann's networks, and it learns."""
from __future__ import annotations

import pytest
import torch

from benchmarks.e2e_plain import RECIPES, main
from benchmarks.textbook import paper_networks
from dann_core import config as config_io
from dann_core.train import Trainer


@pytest.mark.parametrize("dataset", sorted(RECIPES))
def test_the_plain_recipe_is_danns_recommended_one(dataset):
    cfg = config_io.resolve(flags={"dataset": dataset})
    recipe = RECIPES[dataset]
    assert (cfg.lr, cfg.batch_size, cfg.steps, cfg.momentum, cfg.lr_schedule) == (recipe["lr"], recipe["batch_size"], recipe["steps"], recipe["momentum"], True)
    assert cfg.weight_decay == 0.0 and cfg.method == "dann" and cfg.eval_every == 100
    lambd = cfg.method_options["lambda"]
    assert (lambd if lambd == "schedule" else float(lambd)) == recipe["lambda_"]


def test_the_plain_networks_have_danns_layers():
    # moons' built model: the toy MLP; LeNet checked on digits-shaped inputs without generating digits-blend
    trainer = Trainer(config_io.resolve(flags={"dataset": "moons", "steps": 10, "device": "cpu"}))
    model = trainer.method.model
    ours = paper_networks("moons", (2,), 2)
    for theirs, mine in zip((model.backbone, model.classifier, model.discriminator), ours):
        assert [p.shape for p in theirs.parameters()] == [p.shape for p in mine.parameters()]
    from dann_backbones.lenet import make_lenet
    from dann_discriminators.mlp import make_mlp_discriminator

    lenet = make_lenet((3, 28, 28))
    backbone, classifier, discriminator = paper_networks("digits-blend", (3, 28, 28), 10)
    assert [p.shape for p in lenet.parameters()] == [p.shape for p in backbone.parameters()]
    assert [p.shape for p in lenet.default_head(10).parameters()] == [p.shape for p in classifier.parameters()]
    assert [p.shape for p in make_mlp_discriminator(768, 2).parameters()] == [p.shape for p in discriminator.parameters()]


def test_the_plain_script_learns_moons_and_evaluates_at_danns_cadence(tmp_path):
    torch.set_num_threads(1)
    summary = main(["--dataset", "moons", "--steps", "300", "--eval-every", "100", "--device", "cpu", "--out", str(tmp_path)])
    assert [h["step"] for h in summary["history"]] == [100, 200, 300]
    assert summary["target_test_acc"] > 0.6  # chance is 0.5 (1,000 test points: ±0.016)
    assert (tmp_path / "final.pt").exists() and (tmp_path / "summary.json").exists()
