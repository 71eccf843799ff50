"""The example's multi-pass method (vada) and set-level selector (agreement), through dann_core.testing,
a direct computation of each, and the command line."""
from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from dann_core.selection import Candidate, SelectionData
from dann_core.specs import Split
from dann_core.testing import check_method, check_resume, check_selector

from dann_plugin_example.agreement import Agreement, agreement_scores
from dann_plugin_example.vada import VADA, unit_rows


def test_vada_method():
    check_method("vada", {"vat_weight": 1.0, "vat_radius": 0.5, "entropy_weight": 0.1})


def test_vada_resumes_exactly():
    # the probe noise comes from torch's global generator, which the checkpoint holds
    check_resume("vada", {"vat_weight": 1.0, "entropy_weight": 0.1})


def test_vada_trains_and_resumes_under_bf16():
    summary = check_resume("vada", precision="bf16")
    assert summary["final"]["step"] == 10


def test_vada_logs_its_terms(dann_cli, tmp_path):
    out = tmp_path / "run"
    result = dann_cli("run", "--method", "vada", "--set", "method.entropy_weight=0.1", "--precision", "bf16", "--steps", "4",
                      "--eval-every", "2", "--kernels", "reference", "--threads", "1", "--out", out, "--quiet")
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert all(r["vat_loss"] >= 0 and r["target_entropy"] > 0 and "domain_loss" in r for r in records)


def test_a_bad_vada_option_is_refused():
    with pytest.raises(AssertionError, match="vat_radius must be > 0"):
        check_method("vada", {"vat_radius": 0})


class _Context:
    """A MethodContext of a two-feature linear model with batch norm (only what DomainAdversarial reads)."""

    def __init__(self):
        from dann_core.methods import MethodContext, OptimSettings

        backbone = nn.Sequential(nn.Linear(2, 8), nn.BatchNorm1d(8), nn.ReLU())
        backbone.out_features = 8
        self.context = MethodContext(backbone, nn.Linear(8, 2), lambda n, domains=2: nn.Linear(n, 1), 2, 2, OptimSettings(steps=10, lr=0.1))


def test_vat_perturbation_has_the_radius_and_leaves_batch_norm_statistics_untouched():
    torch.manual_seed(0)
    method = VADA(_Context().context, vat_radius=0.3)
    x = torch.randn(16, 2)
    before = {name: value.clone() for name, value in method.model.named_buffers()}
    torch.manual_seed(1)
    with torch.autocast("cpu", dtype=torch.bfloat16):  # as under --precision bf16
        vat = method.vat_loss(x)
    assert vat.dtype == torch.float32 and vat.requires_grad and vat.item() > 0
    assert all(torch.equal(value, before[name]) for name, value in method.model.named_buffers())
    torch.manual_seed(1)
    exact = method.vat_loss(x)  # no autocast: the same probe, all in float32
    assert torch.allclose(vat, exact, rtol=1e-5), "the VAT pass must not run in bfloat16 (x + ξd rounds back to x there)"
    with torch.no_grad():
        reference = F.softmax(method.model(x), dim=1)
    torch.manual_seed(1)
    r = method.adversarial_perturbation(x, reference)
    assert torch.allclose(r.norm(dim=1), torch.full((16,), 0.3))
    # r points where the KL grows: larger than along a random direction of the same norm, on average
    random = 0.3 * unit_rows(torch.randn(16, 2))
    with torch.no_grad():
        kl = [F.kl_div(F.log_softmax(method.model(x + d), dim=1), reference, reduction="none").sum(dim=1) for d in (r, random)]
    assert kl[0].mean() > kl[1].mean()


def test_agreement_selector_contract():
    selector = check_selector("agreement")
    assert selector.set_level and not selector.per_eval and selector.higher_is_better


def _candidates(logits: list[torch.Tensor]) -> list[Candidate]:
    data = SelectionData(Split(torch.zeros(3, 2), torch.zeros(3, dtype=torch.long)), Split(torch.zeros(3, 2), torch.zeros(3, dtype=torch.long)),
                         torch.zeros(len(logits[0]), 2), num_classes=logits[0].shape[1])
    return [Candidate.from_views(step, data, {"target": view}) for step, view in enumerate(logits)]


def test_agreement_is_its_formula_on_hand_made_candidates():
    torch.manual_seed(3)
    logits = [torch.randn(5, 3) for _ in range(4)]
    scores = Agreement().score_all(_candidates(logits))
    p = [F.softmax(z.double(), dim=1) for z in logits]
    for m, score in enumerate(scores):
        expected = 0.0
        for x in range(5):
            others = sum(p[k][x] for k in range(4) if k != m) / 3
            expected += sum(float(p[m][x][c] * others[c]) for c in range(3))
        assert score == pytest.approx(expected / 5, abs=1e-12)


def test_agreement_prefers_the_candidate_in_line_with_the_set():
    big = 20.0
    # rows 0-2: candidates 0, 1 and 2 confidently say class 0, candidate 3 class 1 everywhere
    logits = [torch.tensor([[big, 0.0]] * 3) for _ in range(3)] + [torch.tensor([[0.0, big]] * 3)]
    scores = Agreement().score_all(_candidates(logits))
    assert scores[0] == pytest.approx(2 / 3) and scores[3] == pytest.approx(0.0, abs=1e-6)
    assert agreement_scores([torch.tensor([[1.0, 0.0]])]) == [None]  # a set of one has nothing to agree with
    assert Agreement().score_all([]) == []


def test_dann_run_with_vada_and_agreement(dann_cli, tmp_path):
    out = tmp_path / "run"
    result = dann_cli("run", "--dataset", "moons", "--method", "vada", "--select", "agreement", "--steps", "6", "--eval-every", "2",
                      "--kernels", "reference", "--threads", "1", "--out", out, "--quiet", "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["final"]["step"] == 6 and summary["selector"] == "agreement"
    assert summary["best_step"] in (2, 4, 6) and 0 < summary["selector_score"] <= 1  # scored the set of evaluated steps
    recorded = json.loads((out / "config.json").read_text())
    components = recorded["provenance"]["components"]
    assert components["method"]["distribution"] == components["select"]["distribution"] == "dann-plugin-example"
