"""``jan``: Joint Adaptation Network (Long, Zhu, Wang & Jordan, "Deep Transfer Learning with Joint
Adaptation Networks", ICML 2017): source cross-entropy plus the joint MMD of the features and the
class predictions.

The joint kernel is the product of a kernel per layer: the features' Gaussian family of ``dan``
(bandwidths 2^u · mean d², u = −3..1) times one Gaussian of fixed σ = 0.92 on the softmax outputs
(tllib's setting of the paper's kernels):

    k_JMMD(i, j) = Σ_u exp(−‖f_i − f_j‖² / (2 s_u mean d²)) · exp(−‖p_i − p_j‖² / (2σ²)),

estimated as in ``dan`` (within-domain means without the diagonal, minus twice the cross mean).
Loss: CE + λ · JMMD², λ = 1.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from dann_core.methods import SOURCE, TARGET, Method, MethodContext, Batch, Step, accuracy

from .dan import SCALES, check_scales, gaussian_kernels, mmd_from_kernel, squared_distances


def joint_mmd(source_features, target_features, source_logits, target_logits, scales=SCALES, sigma: float = 0.92) -> torch.Tensor:
    """JMMD² of (features, softmax(logits)) between source and target rows."""
    features = torch.cat([source_features, target_features])
    probs = F.softmax(torch.cat([source_logits, target_logits]), dim=1)
    kernel = gaussian_kernels(features, scales) * torch.exp(-squared_distances(probs) / (2.0 * sigma**2))
    return mmd_from_kernel(kernel, source_features.shape[0])


class JAN(Method):
    """JAN: cross-entropy on source plus λ × the joint MMD² of features and class predictions.

    Options:
      weight: trade-off λ (1, as in the paper's released code).
      kernel_scales: the feature kernels' bandwidths as multiples of the batch's mean squared distance.
      sigma: bandwidth of the Gaussian on the softmax outputs (0.92).
    """

    needs = frozenset({SOURCE, TARGET})
    summary_metrics, progress_metrics = ("label_loss", "jmmd_loss"), {"label_loss": "loss", "jmmd_loss": "jmmd"}

    def __init__(self, context: MethodContext, weight: float = 1.0, kernel_scales: tuple = SCALES, sigma: float = 0.92) -> None:
        super().__init__(context)
        if weight < 0 or not sigma > 0:
            raise ValueError(f"bad jan options weight={weight!r} sigma={sigma!r}: use weight ≥ 0 and sigma > 0 (defaults 1, 0.92)")
        self.weight, self.sigma, self.scales = float(weight), float(sigma), check_scales(kernel_scales, "jan")

    def objective(self, batch: Batch):
        step = Step.forward(self, batch)
        label_loss = F.cross_entropy(step.source_logits, batch.source_y)
        jmmd = joint_mmd(step.source_features, step.target_features, step.source_logits, step.target_logits(), self.scales, self.sigma)
        metrics = {"label_loss": label_loss.detach(), "train_acc": accuracy(step.source_logits, batch.source_y), "jmmd_loss": jmmd.detach()}
        return label_loss + self.weight * jmmd, metrics
