"""The new selectors against direct computations of their formulas: ensv, mixval, iw, bnm, classami.

Each selector is given candidates rebuilt from view logits (``Candidate.from_views``) or small models,
and its score is compared with the paper's formula computed here another way (numpy loops,
scikit-learn's KernelDensity / KMeans / adjusted_mutual_info_score)."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_mutual_info_score
from sklearn.neighbors import KernelDensity

from dann_core.plugins import get_registry
from dann_core.selection import Candidate, SelectionData, ViewUnavailable
from dann_core.specs import Split
from dann_selectors.clustering import adjusted_mutual_info, kmeans, label_centres
from dann_selectors.iw import importance_weights


def data(n_val=60, n_target=80, d=5, classes=4, seed=0) -> SelectionData:
    g = torch.Generator().manual_seed(seed)
    val = Split(torch.randn(n_val, d, generator=g), torch.randint(0, classes, (n_val,), generator=g))
    train = Split(torch.randn(100, d, generator=g), torch.randint(0, classes, (100,), generator=g))
    return SelectionData(train, val, torch.randn(n_target, d, generator=g) + 0.5, classes, seed)


def from_logits(step, selection: SelectionData, seed: int, classes=4) -> Candidate:
    g = torch.Generator().manual_seed(100 + seed)
    n_val, n_target = len(selection.source_val), len(selection.view("target"))
    logits = {"source_val": 3 * torch.randn(n_val, classes, generator=g), "target": 3 * torch.randn(n_target, classes, generator=g),
              "target_mix": 3 * torch.randn(n_target, classes, generator=g)}
    return Candidate.from_views(step, selection, logits)


def build(name, **options):
    return get_registry().build("selector", name, options)


def test_ensv_is_each_candidates_agreement_with_the_ensembles_argmax():
    selection = data()
    candidates = [from_logits(step, selection, step) for step in range(5)]
    scores = build("ensv").score_all(candidates)
    probs = np.stack([np.exp(c.view_logits("target").numpy()) / np.exp(c.view_logits("target").numpy()).sum(1, keepdims=True) for c in candidates])
    ensemble = probs.mean(0).argmax(1)
    for candidate, score, p in zip(candidates, scores, probs):
        assert score == pytest.approx(np.mean(p.argmax(1) == ensemble))
    assert build("ensv").set_level and not build("ensv").per_eval
    with pytest.raises(TypeError, match="scores a set of candidates"):
        build("ensv").score(candidates[0])


@pytest.mark.parametrize("ice", ["both", "intra", "inter"])
def test_mixval_is_the_accuracy_of_mixed_probes_against_the_dominant_rows_pseudo_label(ice):
    selection = data()
    candidate = from_logits(1, selection, 3)
    labels = candidate.view_logits("target").argmax(1).numpy()
    mixed = candidate.view_logits("target_mix").argmax(1).numpy()
    n = len(labels)
    intra, inter = [], []
    for i in range(n):
        j = (i + 1) % n  # the view's partner of row i
        (intra if labels[i] == labels[j] else inter).append(mixed[i] == labels[i])
    expected = {"intra": np.mean(intra), "inter": np.mean(inter), "both": (np.mean(intra) + np.mean(inter)) / 2}[ice]
    assert build("mixval", ice=ice).score(candidate) == pytest.approx(expected)


def test_the_target_mix_view_mixes_each_row_with_the_next():
    selection = data()
    target, mix = selection.view("target"), selection.view("target_mix")
    assert torch.allclose(mix[3], 0.55 * target[3] + 0.45 * target[4])
    assert torch.allclose(mix[-1], 0.55 * target[-1] + 0.45 * target[0])
    assert selection.view("target_mix") is mix  # one object: forwarded once per candidate


def test_iw_weights_are_skadas_kernel_density_ratio_and_the_score_the_weighted_accuracy():
    selection = data(d=3)
    source, target = selection.view("source_val"), selection.view("target")
    kde_s, kde_t = KernelDensity(bandwidth=1.0).fit(source.numpy()), KernelDensity(bandwidth=1.0).fit(target.numpy())
    ratio = np.exp(kde_t.score_samples(source.numpy()) - kde_s.score_samples(source.numpy()))  # skada: no underflow in 3-d
    expected_weights = ratio / ratio.sum()
    assert np.allclose(importance_weights(source, target, 1.0).numpy(), expected_weights, rtol=1e-9)
    candidate = from_logits(1, selection, 5)
    correct = (candidate.view_logits("source_val").argmax(1) == selection.source_val.y).numpy()
    assert build("iw").score(candidate) == pytest.approx(float((expected_weights * correct).sum()))
    with pytest.raises(ValueError, match="iw selector: bandwidth must be a number > 0 or 'median'"):
        build("iw", bandwidth="wide")


def test_iw_keeps_its_weights_where_skadas_exponent_underflows():
    selection = data(d=400)  # squared distances ~ 800: exp(wt - ws) is 0.0 in float64 for every row
    source, target = selection.view("source_val"), selection.view("target")
    weights = importance_weights(source, target, 1.0)
    assert torch.isfinite(weights).all() and float(weights.sum()) == pytest.approx(1.0) and float(weights.max()) > 0
    spread = importance_weights(source, target, "median")
    assert float(1 / (spread ** 2).sum()) > float(1 / (weights ** 2).sum())  # the median bandwidth spreads them


def test_bnm_is_the_nuclear_norm_of_the_prediction_matrix_over_its_rows():
    selection = data()
    candidate = from_logits(1, selection, 2)

    def nuclear(logits):
        p = torch.softmax(logits.double(), 1).numpy()
        return np.linalg.svd(p, compute_uv=False).sum() / len(p)

    assert build("bnm").score(candidate) == pytest.approx(nuclear(candidate.view_logits("target")))
    both = nuclear(candidate.view_logits("target")) + nuclear(candidate.view_logits("source_val"))
    assert build("bnm", source=True).score(candidate) == pytest.approx(both)


def test_kmeans_from_label_centres_matches_scikit_learns_lloyd():
    g = torch.Generator().manual_seed(1)
    centres = torch.tensor([[0.0, 0.0], [5.0, 5.0], [0.0, 6.0]])
    points = torch.cat([c + torch.randn(40, 2, generator=g) for c in centres])
    labels = torch.randint(0, 3, (120,), generator=g)
    labels[:40], labels[40:80], labels[80:] = 0, 1, 2
    labels[::7] = (labels[::7] + 1) % 3  # noisy labels: the clusters move from the label means
    start = label_centres(points, labels, 3)
    ours = kmeans(points, start).numpy()
    theirs = KMeans(n_clusters=3, init=start.numpy(), n_init=1, algorithm="lloyd", tol=0).fit_predict(points.double().numpy())
    assert (ours == theirs).all()


@pytest.mark.parametrize("seed", range(6))
def test_adjusted_mutual_information_matches_scikit_learn(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(5, 400))
    a = rng.integers(0, int(rng.integers(1, 12)), n)
    b = np.where(rng.random(n) < 0.6, a, rng.integers(0, int(rng.integers(1, 9)), n))
    assert adjusted_mutual_info(torch.as_tensor(a), torch.as_tensor(b)) == pytest.approx(adjusted_mutual_info_score(a, b), abs=1e-9)
    assert adjusted_mutual_info(torch.zeros(5, dtype=torch.long), torch.zeros(5, dtype=torch.long)) == 1.0


def test_classami_is_the_ami_of_labels_and_kmeans_clusters_of_normalised_rows():
    selection = data()
    candidate = from_logits(1, selection, 4)
    target, source = candidate.view_logits("target").double(), candidate.view_logits("source_val").double()
    labels = np.concatenate([target.argmax(1).numpy(), selection.source_val.y.numpy()])
    rows = torch.cat([target, source])
    rows = (rows / rows.norm(dim=1, keepdim=True)).numpy()
    init = np.stack([rows[labels == k].mean(0) if (labels == k).any() else np.zeros(rows.shape[1]) for k in range(4)])
    clusters = KMeans(n_clusters=4, init=init, n_init=1, algorithm="lloyd", tol=0).fit_predict(rows)
    assert build("classami", layer="logits").score(candidate) == pytest.approx(adjusted_mutual_info_score(labels, clusters), abs=1e-9)
    with pytest.raises(ViewUnavailable):  # features are not stored: a candidate with weights is needed
        build("classami").score(candidate)


def test_classami_on_features_reads_the_backbone(tiny_config):
    from dann_core.train import fit

    trained = fit(tiny_config)
    selection = SelectionData.of(trained.data, 0)
    candidate = Candidate(20, trained.method, selection)
    feats = candidate.features(selection.view("target"))
    assert feats.shape[1] == trained.model.backbone(selection.view("target")[:2]).shape[1]
    score = build("classami").score(candidate)
    assert -1.0 <= score <= 1.0 and not math.isnan(score)


def test_atc_scores_the_estimate_every_evaluation_reports():
    from dann_core.selection import estimate_target_accuracy
    from dann_core.selection.estimate import atc

    selection = data()
    candidate = from_logits(1, selection, 6)
    direct = atc(candidate.view_logits("source_val"), selection.source_val.y, candidate.view_logits("target"), "ne")
    assert build("atc").score(candidate) == pytest.approx(direct, abs=1e-6) == estimate_target_accuracy(candidate)
    assert build("atc", estimator="doc").score(candidate) == estimate_target_accuracy(candidate, "doc")
    with pytest.raises(ValueError, match="atc selector: unknown estimator 'atc-xx'"):
        build("atc", estimator="atc-xx")
