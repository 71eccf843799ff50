"""``dev``: Deep Embedded Validation (You et al., ICML 2019).

1. A domain classifier (logistic regression) learns source-train vs target features of the candidate.
2. Its odds give the density ratio w(x) = p_t(x)/p_s(x) = (n_s/n_t) · P(target|x)/P(source|x) on the
   held-out source validation features.
3. The risk is the importance-weighted validation loss with a control variate:
   mean(w·ℓ) + η·mean(w) − η, with η = −Cov(w·ℓ, w)/Var(w) (the variance-optimal coefficient).
Lower is better. Only source labels are used.
"""
from __future__ import annotations

import numpy as np
import torch.nn.functional as F

from dann_core.selection import Candidate, Selector


def dev_risk(losses: np.ndarray, weights: np.ndarray) -> float:
    """The control-variate estimate of the target risk from per-sample source losses and density ratios."""
    weighted = weights * losses
    variance = np.var(weights, ddof=1) if len(weights) > 1 else 0.0
    eta = -np.cov(weighted, weights)[0, 1] / variance if variance > 0 else 0.0
    return float(np.mean(weighted) + eta * np.mean(weights) - eta)


def density_ratios(source_train: np.ndarray, target: np.ndarray, source_val: np.ndarray, C: float, seed: int) -> np.ndarray:
    """w(x) on ``source_val`` from a logistic domain classifier trained on standardised features."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    x = np.concatenate([source_train, target])
    y = np.concatenate([np.zeros(len(source_train)), np.ones(len(target))])
    scaler = StandardScaler().fit(x)
    classifier = LogisticRegression(C=C, max_iter=2000, random_state=seed).fit(scaler.transform(x), y)
    p_target = classifier.predict_proba(scaler.transform(source_val))[:, 1].clip(1e-6, 1 - 1e-6)
    return (len(source_train) / len(target)) * p_target / (1 - p_target)


class DEV(Selector):
    """Deep Embedded Validation: importance-weighted source-val loss with a control variate; lower is better.

    Options:
      max_samples: rows per domain for the domain classifier (a fixed seeded subset).
      C: inverse L2 strength of the logistic domain classifier.
    """

    higher_is_better = False

    def __init__(self, max_samples: int = 1000, C: float = 1.0) -> None:
        if max_samples < 2:
            raise ValueError(f"dev selector: max_samples must be ≥ 2, got {max_samples}")
        if not C > 0:
            raise ValueError(f"dev selector: C must be > 0, got {C}")
        self.max_samples, self.C = max_samples, C

    def score(self, candidate: Candidate) -> float | None:
        data = candidate.data
        if data.source_val.y is None or len(data.source_val) < 2:
            return None
        source = candidate.features(data.subsample(data.source_train.x, self.max_samples, salt=3)).numpy()
        target = candidate.features(data.subsample(data.target_x, self.max_samples, salt=4)).numpy()
        losses = F.cross_entropy(candidate.logits(data.source_val.x), data.source_val.y, reduction="none")
        weights = density_ratios(source, target, candidate.features(data.source_val.x).numpy(), self.C, data.seed)
        return dev_risk(losses.double().numpy(), weights)
