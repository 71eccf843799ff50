"""The two baselines of the paper's tables: no adaptation, and training on labelled target data."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from dann_core.methods import SOURCE, TARGET_LABELLED, Method, MethodContext, Batch, accuracy


def _supervised(model, x: torch.Tensor, y: torch.Tensor):
    logits = model(x)
    loss = F.cross_entropy(logits, y)
    return loss, {"label_loss": loss.detach(), "train_acc": accuracy(logits, y)}


class SourceOnly(Method):
    """No adaptation: cross-entropy on labelled source batches (the lower bound of the paper's tables)."""

    needs = frozenset({SOURCE})

    def __init__(self, context: MethodContext) -> None:
        super().__init__(context)

    def objective(self, batch: Batch):
        return _supervised(self.model, batch.source_x, batch.source_y)


class TargetOracle(Method):
    """Trained on labelled target batches (the upper bound of the paper's tables; uses target labels)."""

    needs = frozenset({TARGET_LABELLED})

    def __init__(self, context: MethodContext) -> None:
        super().__init__(context)

    def objective(self, batch: Batch):
        return _supervised(self.model, batch.labelled_target_x, batch.labelled_target_y)
