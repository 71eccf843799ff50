"""Label-free target scores: mean prediction ``entropy`` and soft neighbourhood density (``snd``)."""
from __future__ import annotations

import torch

from dann_core.selection import Candidate, Selector


class Entropy(Selector):
    """Mean entropy of the class predictions on target inputs (lower is better: confident predictions).

    Options:
      max_samples: target rows scored (a fixed seeded subset).
    """

    higher_is_better = False

    def __init__(self, max_samples: int = 1000) -> None:
        if max_samples < 1:
            raise ValueError(f"entropy selector: max_samples must be ≥ 1, got {max_samples}")
        self.max_samples = max_samples

    def score(self, candidate: Candidate) -> float:
        x = candidate.data.subsample(candidate.data.target_x, self.max_samples)
        probs = candidate.logits(x).double().softmax(dim=1)
        return float(-(probs * probs.clamp_min(1e-12).log()).sum(dim=1).mean())


def soft_neighbourhood_density(probs: torch.Tensor, temperature: float = 0.05) -> float:
    """SND (Saito et al., ICCV 2021): the mean entropy of each target point's softmax over its
    similarities (cosine of the class-probability vectors, / temperature) to the other points.

    High when predictions form dense neighbourhoods (clusters); higher is better.
    """
    normed = torch.nn.functional.normalize(probs.double(), dim=1)
    similarity = normed @ normed.T / temperature
    similarity.fill_diagonal_(float("-inf"))
    log_neighbours = similarity.log_softmax(dim=1)  # the diagonal's -inf gives exp 0 and is masked below
    entropy = -(log_neighbours.exp() * log_neighbours.nan_to_num(neginf=0.0)).sum(dim=1)
    return float(entropy.mean())


class SND(Selector):
    """Soft neighbourhood density of the target predictions (Saito et al. 2021); higher is better.

    Options:
      temperature: τ of the similarity softmax (the paper: 0.05).
      max_samples: target rows scored (a fixed seeded subset; the score needs their N×N similarities).
    """

    def __init__(self, temperature: float = 0.05, max_samples: int = 1000) -> None:
        if not temperature > 0:
            raise ValueError(f"snd selector: temperature must be > 0, got {temperature}")
        if max_samples < 2:
            raise ValueError(f"snd selector: max_samples must be ≥ 2, got {max_samples}")
        self.temperature, self.max_samples = temperature, max_samples

    def score(self, candidate: Candidate) -> float:
        x = candidate.data.subsample(candidate.data.target_x, self.max_samples)
        return soft_neighbourhood_density(candidate.logits(x).softmax(dim=1), self.temperature)
