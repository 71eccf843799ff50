"""An estimate of a candidate's target accuracy without target labels, from its stored views.

Every estimator reads the logits of the labelled ``source_val`` view and of the unlabelled ``target``
view (:mod:`.views`), so a run's every evaluated step gets an estimate, at the evaluation and from
``views/`` afterwards, and the two agree exactly.

- ``atc-ne`` / ``atc-mc``: Average Thresholded Confidence (Garg et al., "Leveraging unlabeled data to
  predict out-of-distribution performance", ICLR 2022). A confidence score s(x) — negative entropy of
  the softmax (NE) or its largest probability (MC) — and the threshold t for which the share of
  source-val rows with s ≥ t equals source-val accuracy (the threshold that balances the rows
  confident-but-wrong against those right-but-unconfident); the estimate is the share of target rows
  with s ≥ t.
- ``doc``: Difference of Confidences (Guillory et al., ICCV 2021): source-val accuracy minus the
  drop in mean largest probability from source-val to target.
- ``ac``: average confidence, the mean largest probability on the target (the baseline of both).
- A ``-ts`` suffix first calibrates the logits by one temperature fitted on source val (minimum
  negative log-likelihood), as Garg et al. do before ATC.

Which is the default (:data:`DEFAULT_ESTIMATOR`) was measured (docs/selection.md#target-accuracy-estimate).
"""
from __future__ import annotations

import math
from typing import Callable

import torch

DEFAULT_ESTIMATOR = "atc-ne"
MEASURED_ERROR = 0.13
"""Mean |estimate − target test accuracy| of the default estimator at best.pt, 27 runs (moons,
digits-blend, photo intensity 1.0: docs/selection.md#target-accuracy-estimate). Printed with every
estimate, so that a user reads it as the hint it is; re-measure with benchmarks/target_estimate.py."""


def negative_entropy(logits: torch.Tensor) -> torch.Tensor:
    """Σ p log p of each row's softmax (0 for a one-hot prediction, −log K for a uniform one)."""
    log_p = logits.double().log_softmax(dim=1)
    return (log_p.exp() * log_p).sum(dim=1)


def max_confidence(logits: torch.Tensor) -> torch.Tensor:
    return logits.double().softmax(dim=1).max(dim=1).values


def atc_threshold(scores: torch.Tensor, correct: torch.Tensor) -> float:
    """The t for which #(scores ≥ t) equals #correct: the (#wrong + 1)-th smallest score (−inf when
    every row is right, +inf when none is)."""
    n, wrong = len(scores), int((~correct.bool()).sum())
    if wrong == 0:
        return -math.inf
    if wrong == n:
        return math.inf
    return float(torch.sort(scores.double()).values[wrong])


def fit_temperature(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """The temperature T minimising the mean negative log-likelihood of softmax(logits / T) (1-D
    Newton in log T from 1, safeguarded; float64)."""
    logits, labels = logits.double(), labels.long()
    u = 0.0  # log T
    for _ in range(50):
        z = logits * math.exp(-u)  # logits / T
        p = z.softmax(dim=1)
        zy = z.gather(1, labels[:, None])[:, 0]
        mean_z = (p * z).sum(dim=1)
        var_z = (p * z * z).sum(dim=1) - mean_z ** 2
        # NLL(u) = mean(logsumexp(z) − z_y) with z = logits·e^{−u}: dz/du = −z
        first = float((zy - mean_z).mean())
        second = float((var_z + mean_z - zy).mean())  # d/du of (z_y − E z) = −z_y + E z + Var z
        if abs(first) < 1e-10:
            break
        step = -first / second if second > 0 else -math.copysign(0.5, first)
        u += max(-1.0, min(1.0, step))
    return math.exp(u)


def _scaled(source_logits, source_labels, target_logits, calibrate: bool):
    if not calibrate:
        return source_logits, target_logits
    temperature = fit_temperature(source_logits, source_labels)
    return source_logits.double() / temperature, target_logits.double() / temperature


def atc(source_logits, source_labels, target_logits, score: str = "ne", calibrate: bool = False) -> float:
    """ATC's estimate of target accuracy (``score``: ``ne`` negative entropy, ``mc`` max confidence)."""
    source_logits, target_logits = _scaled(source_logits, source_labels, target_logits, calibrate)
    confidence = negative_entropy if score == "ne" else max_confidence
    correct = source_logits.argmax(dim=1) == source_labels
    threshold = atc_threshold(confidence(source_logits), correct)
    return float((confidence(target_logits) >= threshold).double().mean())


def doc(source_logits, source_labels, target_logits, calibrate: bool = False) -> float:
    source_logits, target_logits = _scaled(source_logits, source_labels, target_logits, calibrate)
    accuracy = float((source_logits.argmax(dim=1) == source_labels).double().mean())
    drop = float(max_confidence(source_logits).mean() - max_confidence(target_logits).mean())
    return min(1.0, max(0.0, accuracy - drop))


def average_confidence(source_logits, source_labels, target_logits, calibrate: bool = False) -> float:
    _, target_logits = _scaled(source_logits, source_labels, target_logits, calibrate)
    return float(max_confidence(target_logits).mean())


ESTIMATORS: dict[str, Callable[..., float]] = {
    "atc-ne": lambda s, y, t: atc(s, y, t, "ne"),
    "atc-mc": lambda s, y, t: atc(s, y, t, "mc"),
    "atc-ne-ts": lambda s, y, t: atc(s, y, t, "ne", calibrate=True),
    "atc-mc-ts": lambda s, y, t: atc(s, y, t, "mc", calibrate=True),
    "doc": doc,
    "doc-ts": lambda s, y, t: doc(s, y, t, calibrate=True),
    "ac": average_confidence,
    "ac-ts": lambda s, y, t: average_confidence(s, y, t, calibrate=True),
}
"""name → f(source_val logits, source_val labels, target logits) -> estimated target accuracy."""


def estimate_target_accuracy(candidate, estimator: str = DEFAULT_ESTIMATOR) -> float | None:
    """The estimate of ``candidate``'s target accuracy from its ``source_val`` and ``target`` views
    (None without labelled source-val rows). Never reads a target label."""
    if estimator not in ESTIMATORS:
        raise ValueError(f"unknown target-accuracy estimator {estimator!r}; choose from {', '.join(ESTIMATORS)}")
    labels = candidate.data.source_val.y
    if labels is None or len(labels) == 0:
        return None
    value = ESTIMATORS[estimator](candidate.view_logits("source_val"), labels, candidate.view_logits("target"))
    return round(float(value), 6)
