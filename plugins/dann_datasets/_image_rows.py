"""The rows of image files, decoded on demand by DataLoader workers (see dann_core.rows.LazyRows)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from dann_core import rows as lazy

from ._image_decode import Transform
from ._image_scan import Listing
from ._normalize import Normalizer
from ._row_cache import RowCache, cache_key, default_cache_dir, disk_cache


class ImageRows(lazy.LazyRows):
    """One uint8 ``3×size×size`` row per listed file; ``finish`` normalises them (shared Normalizer)."""

    def __init__(
        self, listing: Listing, transform: Transform, normalizer: Normalizer, workers: int,
        cache: str = "none", cache_dir: Path | None = None,
    ) -> None:
        self.listing, self.transform, self.normalizer = listing, transform, normalizer
        self.workers = workers
        self.row_shape = (3, transform.size, transform.size)
        self.cache = None
        if cache == "memory":
            self.cache = RowCache(len(listing), self.row_shape)
        elif cache == "disk":
            folder = Path(cache_dir) if cache_dir else default_cache_dir()
            self.cache = disk_cache(len(listing), self.row_shape, folder / f"rows-{cache_key(listing, transform)}.npy")

    def __len__(self) -> int:
        return len(self.listing)

    def __getstate__(self) -> dict:
        # what a spawned worker needs to read rows; the normaliser (a closure over the dataset) is the
        # main process's: workers never call finish
        return {**self.__dict__, "normalizer": None}

    @property
    def labels(self) -> torch.Tensor:
        return torch.from_numpy(self.listing.labels)

    def read(self, index: int, augment_seed: int | None = None) -> torch.Tensor:
        if augment_seed is not None and self.transform.augment != "none":
            return self.decode(index, augment_seed)
        if self.cache is None:
            return self.decode(index, None)
        row = self.cache.get(index)
        if row is None:
            row = self.decode(index, None)
            self.cache.put(index, row)
        return row

    def decode(self, index: int, seed: int | None) -> torch.Tensor:
        path = self.listing.path(index)
        try:
            return self.transform.read(path, seed)
        except Exception as exc:  # noqa: BLE001 - name the file whatever Pillow raised
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise ValueError(f"image-folder: cannot decode '{path}': {reason}") from None

    def finish(self, raw: torch.Tensor) -> torch.Tensor:
        if self.cache is not None and not self.cache.complete:
            self.cache.seal()
        return self.normalizer(raw)

    def resident(self) -> torch.Tensor | None:
        """The cached rows when reading is deterministic (no augmentation), filled on first call."""
        if self.cache is None or self.transform.augment != "none":
            return None
        if not self.cache.complete:
            missing = self.cache.missing()
            for start, raw in zip(range(0, len(missing), lazy.EVAL_BATCH), lazy.raw_batches(self.subset(missing))):
                for offset, row in enumerate(raw):  # the workers wrote them too; this covers non-forked workers
                    self.cache.put(int(missing[start + offset]), row)
            self.cache.seal()
        return self.cache.tensor()

    def adopt_normalization(self, name: str) -> None:
        self.normalizer.adopt(name)

    def normalization_state(self) -> dict | None:
        return self.normalizer.state()

    def load_normalization_state(self, state: dict) -> None:
        self.normalizer.load_state(state)


def sample_stats(rows: lazy.LazyRows, count: int, rng: np.random.Generator):
    """Per-channel (mean, std) of up to ``count`` rows of ``rows`` drawn by ``rng`` (evaluation transform)."""
    from ._normalize import channel_stats

    picked = np.sort(rng.choice(len(rows), size=min(count, len(rows)), replace=False))
    sample = rows.subset(picked)
    return channel_stats(lazy.raw_batches(sample, 64))
