"""``bsp``: Batch Spectral Penalization (Chen, Wang, Long & Wang, "Transferability vs. Discriminability:
Batch Spectral Penalization for Adversarial Domain Adaptation", ICML 2019), as the regulariser
``plus=bsp`` of any adversarial method and as the method ``bsp`` (DANN+BSP, the paper's main row).

Adversarial alignment lets a few top singular vectors of the feature matrix dominate; BSP penalises
the k largest singular values σ of the source and of the target batch feature matrices:
L = Σ_{i≤k} σ_{s,i}² + Σ_{i≤k} σ_{t,i}². Paper defaults: k = 1, β = 1e-4.
"""
from __future__ import annotations

import torch

from dann_core.methods import MethodContext, DomainAdversarial, Step


def spectral_penalty(features: torch.Tensor, k: int = 1) -> torch.Tensor:
    """Σ of the squared k largest singular values of ``features`` (N, D)."""
    return torch.linalg.svdvals(features.float())[:k].pow(2).sum()


class SpectralPenalty:
    """The BSP regulariser: ``weight`` × (top-k σ² of source features + of target features).

    Options:
      k: how many of the largest singular values are penalised (the paper: 1).
      weight: trade-off β (the paper: 1e-4).
    """

    def __init__(self, k: int = 1, weight: float = 1e-4) -> None:
        if k < 1:
            raise ValueError(f"bad bsp k {k!r}: use an integer ≥ 1 (the paper: 1)")
        if weight < 0:
            raise ValueError(f"bad bsp weight {weight!r}: use a number ≥ 0 (the paper: 1e-4)")
        self.k, self.weight = int(k), float(weight)

    def __call__(self, step: Step):
        loss = spectral_penalty(step.source_features, self.k) + spectral_penalty(step.target_features, self.k)
        return self.weight * loss, {"bsp_loss": loss.detach()}


class DANNBSP(DomainAdversarial):
    """DANN+BSP: DANN's loss plus β × the top-k squared singular values of both domains' features.

    Options:
      lambda: GRL factor λ: 'schedule' (the paper's ramp) or a number ≥ 0.
      gamma: γ of the λ schedule.
      k: how many of the largest singular values are penalised (the paper: 1).
      weight: trade-off β (the paper: 1e-4).
      plus: further regularisers (e.g. 'mcc').
    """

    summary_metrics = (*DomainAdversarial.summary_metrics, "bsp_loss")

    def __init__(self, context: MethodContext, lambda_: str = "schedule", gamma: float = 10.0, k: int = 1,
                 weight: float = 1e-4, plus: str = "", **regularizer_options) -> None:
        super().__init__(context, lambda_=lambda_, gamma=gamma, plus=plus, **regularizer_options)
        if "bsp" in self.regularizers:
            raise ValueError("method bsp already adds bsp: drop it from plus, and set method.k / method.weight instead of bsp_*")
        self.regularizers = {"bsp": SpectralPenalty(k, weight), **self.regularizers}
