"""DEV's torch domain classifier: the same minimiser as scikit-learn's StandardScaler + LogisticRegression,
by either of its two solvers (primal, and the rows' span for wide features), chunked or not; the selector's
risk; its option errors. The scikit-learn comparison is skipped where scikit-learn is not installed."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

import dann_selectors.logistic as logistic
from dann_core.selection import Candidate, SelectionData
from dann_core.specs import Split
from dann_selectors.dev import DEV, density_ratios, dev_risk
from dann_selectors.logistic import DomainClassifier

RATIO_TOL = 1e-3
"""Max |log w_torch − log w_sklearn| against scikit-learn fitted to convergence (tol 1e-10). Both solve
the same convex problem; what is left is float32 features and Newton's stopping rule."""
RISK_TOL = 1e-4
"""Relative gap of the DEV risk computed from those two sets of ratios."""


def features(seed: int, rows: int, d: int, shift: float, relu: bool = True):
    """Source, target and source-val rows: N(0, 1) vs N(shift, 1) per feature, through a ReLU like
    backbone features (many exact zeros), float32."""
    g = torch.Generator().manual_seed(seed)
    mix = torch.randn(d, d, generator=g) / d**0.5  # correlated features, as a backbone gives
    act = torch.relu if relu else (lambda x: x)
    source = act(torch.randn(rows, d, generator=g) @ mix)
    target = act((torch.randn(rows, d, generator=g) + shift) @ mix)
    val = act(torch.randn(rows // 2, d, generator=g) @ mix)
    return source, target, val


CASES = {  # name: (seed, rows per domain, d, shift); the last one is wider than its 2 × 60 rows
    "overlapping": (0, 300, 20, 0.3),
    "nearly-separable": (1, 400, 64, 0.6),
    "wide": (2, 60, 300, 0.2),
}


def sklearn_converged_ratios(source, target, val, C):
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    x = np.concatenate([source, target]).astype(np.float64)
    y = np.concatenate([np.zeros(len(source)), np.ones(len(target))])
    scaler = StandardScaler().fit(x)
    classifier = LogisticRegression(C=C, tol=1e-10, max_iter=100_000).fit(scaler.transform(x), y)
    p = classifier.predict_proba(scaler.transform(val.astype(np.float64)))[:, 1].clip(1e-6, 1 - 1e-6)
    return len(source) / len(target) * p / (1 - p)


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("C", [1.0, 0.1])
def test_density_ratios_and_risk_match_scikit_learns_minimiser(case, C):
    pytest.importorskip("sklearn")
    seed, rows, d, shift = CASES[case]
    source, target, val = features(seed, rows, d, shift)
    ours = density_ratios(source, target, val, C)
    assert ours.dtype == torch.float64 and ours.shape == (len(val),)
    theirs = torch.from_numpy(sklearn_converged_ratios(source.numpy(), target.numpy(), val.numpy(), C))
    assert float((ours / theirs).log().abs().max()) < RATIO_TOL
    losses = torch.rand(len(val), generator=torch.Generator().manual_seed(seed)) * 2
    assert dev_risk(losses, ours) == pytest.approx(dev_risk(losses, theirs), rel=RISK_TOL)


@pytest.mark.parametrize("case", ["overlapping", "wide"])
def test_primal_and_row_span_solvers_reach_the_same_classifier(case):
    seed, rows, d, shift = CASES[case]
    source, target, val = features(seed, rows, d, shift)
    primal = DomainClassifier.fit(source, target, 1.0, kernel=False).logits(val)
    span = DomainClassifier.fit(source, target, 1.0, kernel=True).logits(val)
    assert torch.allclose(primal, span, atol=1e-4, rtol=1e-4)


def test_column_chunks_change_nothing(monkeypatch):
    # a chunk of a few columns at a time (wide features are never standardised as one n × d copy)
    source, target, val = features(3, 50, 120, 0.3)
    whole = {kernel: DomainClassifier.fit(source, target, 1.0, kernel=kernel).logits(val) for kernel in (False, True)}
    monkeypatch.setattr(logistic, "CHUNK_ELEMENTS", 100 * 7)  # 7 columns of the 100 rows per chunk
    for kernel, logits in whole.items():
        assert torch.allclose(DomainClassifier.fit(source, target, 1.0, kernel=kernel).logits(val), logits, atol=1e-4)


def test_constant_features_are_centred_not_scaled_and_numpy_inputs_are_accepted():
    source, target, val = features(4, 100, 10, 0.5, relu=False)
    source[:, 3], target[:, 3], val[:, 3] = 2.0, 2.0, 7.0  # constant in training; a stray value later
    with_constant = density_ratios(source.numpy(), target.numpy(), val.numpy(), 1.0)
    keep = [j for j in range(10) if j != 3]
    without = density_ratios(source[:, keep], target[:, keep], val[:, keep], 1.0)
    # StandardScaler's rule: a zero-variance feature gets scale 1, so its weight stays 0 whatever it reads
    assert torch.allclose(with_constant, without, rtol=1e-4)


class _Model(torch.nn.Module):
    def __init__(self, d: int) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.backbone = torch.nn.Sequential(torch.nn.Linear(2, d), torch.nn.ReLU())
        self.classifier = torch.nn.Linear(d, 3)
        for p in self.parameters():
            p.data = torch.randn(p.shape, generator=g)

    def forward(self, x):
        return self.classifier(self.backbone(x))


def test_the_selector_scores_a_candidate_as_dev_risk_of_its_features():
    g = torch.Generator().manual_seed(6)
    source = Split(torch.randn(300, 2, generator=g), torch.randint(0, 3, (300,), generator=g))
    val = Split(torch.randn(80, 2, generator=g), torch.randint(0, 3, (80,), generator=g))
    data = SelectionData(source, val, torch.randn(200, 2, generator=g) + 0.5, 3, seed=1)
    model = _Model(16)
    candidate = Candidate(10, SimpleNamespace(model=model), data)
    score = DEV(max_samples=150, C=0.5).score(candidate)
    with torch.no_grad():
        source_x, target_x = data.subsample(source.x, 150), data.subsample(data.target_x, 150)
        losses = torch.nn.functional.cross_entropy(model(val.x), val.y, reduction="none")
        weights = density_ratios(model.backbone(source_x), model.backbone(target_x), model.backbone(val.x), 0.5)
    assert isinstance(score, float) and score == pytest.approx(dev_risk(losses, weights), rel=1e-6)
    unlabelled = Candidate(10, SimpleNamespace(model=model), SelectionData(source, Split(val.x, None), data.target_x, 3))
    assert DEV().score(unlabelled) is None


@pytest.mark.parametrize("options, message", [
    ({"max_samples": 1}, "dev selector: max_samples must be ≥ 2, got 1"),
    ({"C": 0.0}, "dev selector: C must be > 0, got 0.0"),
])
def test_bad_options_name_the_option_and_the_valid_range(options, message):
    with pytest.raises(ValueError, match=message):
        DEV(**options)


def test_scoring_with_dev_does_not_import_scikit_learn():
    import subprocess
    import sys

    code = ("import sys, torch; from dann_selectors.dev import density_ratios; "
            "density_ratios(torch.randn(20, 3), torch.randn(20, 3) + 1, torch.randn(5, 3), 1.0); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'sklearn'))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
