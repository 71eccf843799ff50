"""A test plugin that adds a training method in one small module: DDC-style MMD alignment ("mmd-test")."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from dann_core import hookimpl
from dann_core.methods import SOURCE, TARGET, Method, MethodContext, Batch
from dann_core.methods.base import accuracy
from dann_core.specs import ComponentSpec


def gaussian_mmd2(a: torch.Tensor, b: torch.Tensor, bandwidth: float) -> torch.Tensor:
    """Biased estimate of MMD² between two samples under a Gaussian kernel."""
    both = torch.cat([a, b])
    kernel = torch.exp(-torch.cdist(both, both).pow(2) / (2 * bandwidth**2))
    n = a.shape[0]
    return kernel[:n, :n].mean() + kernel[n:, n:].mean() - 2 * kernel[:n, n:].mean()


class MMD(Method):
    """Source cross-entropy plus weight × MMD² between source and target features (no discriminator).

    Options:
      weight: trade-off of the MMD term.
      bandwidth: bandwidth of the Gaussian kernel.
    """

    needs = frozenset({SOURCE, TARGET})

    def __init__(self, context: MethodContext, weight: float = 1.0, bandwidth: float = 1.0) -> None:
        super().__init__(context)
        self.weight, self.bandwidth = float(weight), float(bandwidth)
        self.register_buffer("mmd_ema", torch.zeros(()))  # state of its own, carried by checkpoints

    def objective(self, batch: Batch):
        n = batch.source_x.shape[0]
        features = self.model.backbone(torch.cat([batch.source_x, batch.target_x]))
        logits = self.model.classifier(features[:n])
        label_loss = F.cross_entropy(logits, batch.source_y)
        mmd = gaussian_mmd2(features[:n], features[n:], self.bandwidth)
        self.mmd_ema.mul_(0.9).add_(0.1 * mmd.detach())
        metrics = {"label_loss": label_loss.detach(), "train_acc": accuracy(logits, batch.source_y), "mmd": mmd.detach()}
        return label_loss + self.weight * mmd, metrics


@hookimpl
def register_methods():
    return [ComponentSpec.from_factory("mmd-test", MMD)]
