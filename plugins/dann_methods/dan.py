"""``dan``: Deep Adaptation Network (Long, Cao, Wang & Jordan, "Learning Transferable Features with Deep
Adaptation Networks", ICML 2015): source cross-entropy plus the multi-kernel MMD between source and
target features.

With Z the source rows then the target rows and d²_ij = ‖z_i − z_j‖², the kernel is a sum of
Gaussians k(z_i, z_j) = Σ_u exp(−d²_ij / (2 s_u · mean(d²))) whose bandwidths are multiples s_u of the
batch's mean squared distance (detached; s_u = 2^u, u = −3..1, as tllib uses for the paper's family).
MK-MMD² is estimated as

    mean_{i≠j∈S} k + mean_{i≠j∈T} k − 2 · mean_{i∈S, j∈T} k

(the paper learns the kernel weights β; equal weights as in common reimplementations). Loss:
CE + λ · MK-MMD², λ = 1. The paper aligns several layers; here the backbone's features.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from dann_core.methods import SOURCE, TARGET, Method, MethodContext, Batch, Step, accuracy

SCALES = (0.125, 0.25, 0.5, 1.0, 2.0)
"""2^u for u = −3..1: bandwidths as multiples of the batch's mean squared distance."""


def squared_distances(z: torch.Tensor) -> torch.Tensor:
    """(N, N) ‖z_i − z_j‖², clamped at 0 (the expanded form can dip below it)."""
    sq = (z * z).sum(dim=1)
    return (sq.unsqueeze(1) + sq.unsqueeze(0) - 2.0 * z @ z.t()).clamp_min(0)


def gaussian_kernels(z: torch.Tensor, scales=SCALES) -> torch.Tensor:
    """Σ_u exp(−d² / (2 s_u · mean d²)) over the rows of ``z``; the bandwidths are detached."""
    d2 = squared_distances(z)
    base = d2.detach().mean().clamp_min(1e-12)
    return sum(torch.exp(-d2 / (2.0 * scale * base)) for scale in scales)


def mmd_from_kernel(kernel: torch.Tensor, n_source: int) -> torch.Tensor:
    """Unbiased within-domain means (diagonals left out) minus twice the cross-domain mean."""
    ns, nt = n_source, kernel.shape[0] - n_source
    if ns < 2 or nt < 2:
        raise ValueError(f"MMD needs at least 2 source and 2 target rows per batch, got {ns} and {nt}")
    ss, tt, st = kernel[:ns, :ns], kernel[ns:, ns:], kernel[:ns, ns:]
    within = (ss.sum() - ss.diagonal().sum()) / (ns * (ns - 1)) + (tt.sum() - tt.diagonal().sum()) / (nt * (nt - 1))
    return within - 2.0 * st.mean()


def mk_mmd(source: torch.Tensor, target: torch.Tensor, scales=SCALES) -> torch.Tensor:
    """MK-MMD² between source and target rows (same width)."""
    return mmd_from_kernel(gaussian_kernels(torch.cat([source, target]), scales), source.shape[0])


def check_scales(scales, name: str) -> tuple[float, ...]:
    scales = tuple(float(s) for s in scales)
    if not scales or min(scales) <= 0:
        raise ValueError(f"bad {name} kernel_scales {scales!r}: give numbers > 0, e.g. 0.125,0.25,0.5,1,2 (the default)")
    return scales


class DAN(Method):
    """DAN: cross-entropy on source plus λ × the multi-kernel MMD² between source and target features.

    Options:
      weight: trade-off λ (1, as in common reimplementations of the paper).
      kernel_scales: Gaussian bandwidths as multiples of the batch's mean squared distance (2^-3..2^1).
    """

    needs = frozenset({SOURCE, TARGET})
    summary_metrics, progress_metrics = ("label_loss", "mmd_loss"), {"label_loss": "loss", "mmd_loss": "mmd"}

    def __init__(self, context: MethodContext, weight: float = 1.0, kernel_scales: tuple = SCALES) -> None:
        super().__init__(context)
        if weight < 0:
            raise ValueError(f"bad dan weight {weight!r}: use a number ≥ 0 (default 1)")
        self.weight, self.scales = float(weight), check_scales(kernel_scales, "dan")

    def objective(self, batch: Batch):
        step = Step.forward(self, batch)
        label_loss = F.cross_entropy(step.source_logits, batch.source_y)
        mmd = mk_mmd(step.source_features, step.target_features, self.scales)
        metrics = {"label_loss": label_loss.detach(), "train_acc": accuracy(step.source_logits, batch.source_y), "mmd_loss": mmd.detach()}
        return label_loss + self.weight * mmd, metrics
