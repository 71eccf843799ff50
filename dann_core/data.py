"""What a dataset plugin returns: the four splits of a domain-adaptation task and their shapes."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch


@dataclass
class Split:
    """Inputs (a float tensor, or a :class:`dann_core.rows.LazyRows` read on demand) and (possibly
    absent) integer class labels of one split."""

    x: Any
    y: torch.Tensor | None = None

    def __len__(self) -> int:
        return self.x.shape[0]


@dataclass
class DomainData:
    """What a dataset plugin returns.

    source_train: labelled source; source_val: held-out labelled source (model selection);
    target_train: target inputs (labels kept only for the target-oracle method and never used by
    dann/source-only); target_test: labelled target for reporting. ``domains`` (optional, int64, one
    per source_train row) marks the source domain of each row for multi-source DANN.
    """

    source_train: Split
    source_val: Split
    target_train: Split
    target_test: Split
    num_classes: int
    input_shape: tuple[int, ...]
    class_names: list[str] | None = None
    domains: torch.Tensor | None = None
    num_source_domains: int = 1
