"""Images kept in memory as uint8 and made float only in ``finish`` (on the training device): 4× less
memory than float32 copies, and gray images are stored once, not three times."""
from __future__ import annotations

import numpy as np
import torch

from dann_core.rows import LazyRows

from ._common import STANDARDIZE_MODES
from ._normalize import scale_and_standardize


class Uint8Rows(LazyRows):
    """``N×C×H×W`` uint8 images; ``finish``: ``/255``, a single gray channel repeated to ``channels``, then
    ``(x − mean) / std`` per channel when ``stats`` is given."""

    def __init__(self, images: torch.Tensor, channels: int = 3, stats: tuple[torch.Tensor, torch.Tensor] | None = None) -> None:
        self.images = images
        self.channels = channels
        self.row_shape = (channels, *images.shape[2:])
        self.stats = stats

    def __len__(self) -> int:
        return len(self.images)

    def read(self, index: int, augment_seed: int | None = None) -> torch.Tensor:
        return self.images[index]

    def resident(self) -> torch.Tensor:
        return self.images

    def finish(self, raw: torch.Tensor) -> torch.Tensor:
        x = raw.float().div_(255.0)
        if x.shape[1] != self.channels:
            x = x.expand(-1, self.channels, *x.shape[2:])
        return scale_and_standardize(x.contiguous(), self.stats)


def uint8_stats(images: torch.Tensor, channels: int = 3) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact per-channel (mean, unbiased std) of ``images / 255`` from byte histograms (no float copy)."""
    counts = torch.stack([torch.bincount(images[:, c].reshape(-1), minlength=256) for c in range(images.shape[1])]).double()
    values = torch.arange(256, dtype=torch.float64) / 255.0
    n = counts.sum(1)
    mean = (counts * values).sum(1) / n
    var = (counts * (values[None] - mean[:, None]) ** 2).sum(1) / (n - 1).clamp_min(1)
    std = var.sqrt().clamp_min(1e-6)
    if images.shape[1] != channels:
        mean, std = mean.expand(channels), std.expand(channels)
    return mean.float().contiguous(), std.float().contiguous()


def standardized_rows(mode: str, source: list[torch.Tensor], target: list[torch.Tensor]) -> tuple[list[Uint8Rows], list[Uint8Rows]]:
    """Uint8Rows for the source and target image tensors (first of each: the training split), standardised as
    ``mode`` says (see _common.STANDARDIZE_MODES): statistics of source_train, or per domain of its training split."""
    if mode not in STANDARDIZE_MODES:
        raise ValueError(f"standardize must be one of {', '.join(STANDARDIZE_MODES)}, got '{mode}'")
    source_stats = None if mode == "none" else uint8_stats(source[0])
    target_stats = uint8_stats(target[0]) if mode == "domain" else source_stats
    made: dict[int, Uint8Rows] = {}

    def rows(images, stats):
        key = id(images)  # the same tensor (mnist: source_train is target_train) gives one object
        if key not in made or made[key].stats is not stats:
            made[key] = Uint8Rows(images, 3, stats)
        return made[key]

    return [rows(images, source_stats) for images in source], [rows(images, target_stats) for images in target]


def as_images(array: np.ndarray) -> torch.Tensor:
    """(N, H, W) gray or (N, C, H, W) uint8 numpy images as a contiguous N×C×H×W tensor."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    return torch.from_numpy(array[:, None] if array.ndim == 3 else array)
