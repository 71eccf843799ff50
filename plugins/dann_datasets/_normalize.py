"""Turning uint8 rows into model inputs: ``/255`` then per-channel normalisation, on the rows' device.

One :class:`Normalizer` is shared by every split of a dataset, so all splits are normalised alike.
``auto`` follows the backbone (``adopt_normalization``), else the dataset's own statistics, which are
estimated once, on first need, from a seeded sample of source training images.
"""
from __future__ import annotations

from typing import Callable

import torch

NORMALIZE_MODES = ("auto", "dataset", "imagenet", "none")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class Normalizer:
    """``(raw / 255 − mean) / std`` per channel; ``estimate()`` gives the dataset's (mean, std) when needed."""

    def __init__(self, mode: str, estimate: Callable[[], tuple[torch.Tensor, torch.Tensor]]) -> None:
        if mode not in NORMALIZE_MODES:
            raise ValueError(f"image-folder: normalize must be one of {', '.join(NORMALIZE_MODES)}, got '{mode}'")
        self.mode = mode
        self.adopted: str | None = None
        self.estimate = estimate
        self._dataset_stats: tuple[torch.Tensor, torch.Tensor] | None = None

    def adopt(self, name: str) -> None:
        known = [mode for mode in NORMALIZE_MODES if mode != "auto"]
        if name not in known:
            raise ValueError(f"image-folder: the backbone asks for normalisation '{name}', expected one of {', '.join(known)}")
        if self.mode == "auto":
            self.adopted = name

    @property
    def effective(self) -> str:
        """The normalisation in use: the chosen one, or for auto the backbone's (else dataset)."""
        return (self.adopted or "dataset") if self.mode == "auto" else self.mode

    def state(self) -> dict | None:
        """The dataset statistics in use (estimated if not yet), or None when the mode needs none."""
        if self.effective != "dataset":
            return None
        mean, std = self.stats()
        return {"mode": "dataset", "mean": mean.clone(), "std": std.clone()}

    def load_state(self, state: dict) -> None:
        """Use a checkpoint's statistics instead of estimating them again from the files."""
        if state.get("mode") == "dataset" and self.effective == "dataset":
            self._dataset_stats = (torch.as_tensor(state["mean"]).float(), torch.as_tensor(state["std"]).float())

    def stats(self) -> tuple[torch.Tensor, torch.Tensor] | None:
        mode = self.effective
        if mode == "none":
            return None
        if mode == "imagenet":
            return torch.tensor(IMAGENET_MEAN), torch.tensor(IMAGENET_STD)
        if self._dataset_stats is None:
            self._dataset_stats = self.estimate()
        return self._dataset_stats

    def __call__(self, raw: torch.Tensor) -> torch.Tensor:
        return scale_and_standardize(raw.float().div_(255.0), self.stats())


def scale_and_standardize(x: torch.Tensor, stats: tuple[torch.Tensor, torch.Tensor] | None) -> torch.Tensor:
    """``(x − mean) / std`` per channel (dim 1) in place, on ``x``'s device; ``x`` as is when ``stats`` is None."""
    if stats is None:
        return x
    shape = (1, -1, *([1] * (x.dim() - 2)))
    mean, std = (s.to(x.device).reshape(shape) for s in stats)
    return x.sub_(mean).div_(std)


def channel_stats(raw_batches) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel (mean, std) of uint8 rows in ``[0, 1]`` units, from an iterable of ``N×C×H×W`` batches."""
    total = total_sq = None
    count = 0
    for raw in raw_batches:
        x = raw.double().div_(255.0).transpose(0, 1).reshape(raw.shape[1], -1)
        total = x.sum(1) if total is None else total + x.sum(1)
        total_sq = (x * x).sum(1) if total_sq is None else total_sq + (x * x).sum(1)
        count += x.shape[1]
    if not count:
        raise ValueError("image-folder: no source images to estimate the dataset statistics from")
    mean = total / count
    var = (total_sq / count - mean * mean) * count / max(1, count - 1)
    return mean.float(), var.clamp_min(1e-12).sqrt().clamp_min(1e-6).float()
