"""Large ``.npz`` inputs read on demand: members stored uncompressed are memory-mapped, rows are copied
out by DataLoader workers (dann_core.rows.LazyRows), so a file larger than memory can train."""
from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import torch

from dann_core.rows import LazyRows

_LOCAL_HEADER = 30  # bytes of a zip local file header before its name and extra field


def memmap_members(path: Path, keys) -> dict[str, np.ndarray]:
    """Read-only memory maps of the members ``keys`` of an uncompressed .npz (``numpy.savez``);
    ValueError naming the member when one is compressed (``savez_compressed``) and cannot be mapped."""
    maps = {}
    with zipfile.ZipFile(path) as archive, open(path, "rb") as raw:
        for key in keys:
            info = archive.getinfo(f"{key}.npy")
            if info.compress_type != zipfile.ZIP_STORED:
                raise ValueError(f"npz '{path}': member '{key}' is compressed and cannot be streamed; save with numpy.savez "
                                 "(not savez_compressed), or set stream=off to load it into memory")
            raw.seek(info.header_offset + 26)
            name_length, extra_length = np.frombuffer(raw.read(4), dtype="<u2")
            raw.seek(info.header_offset + _LOCAL_HEADER + int(name_length) + int(extra_length))
            version = np.lib.format.read_magic(raw)
            read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            shape, fortran, dtype = read_header(raw)
            if fortran or dtype.hasobject:
                raise ValueError(f"npz '{path}': member '{key}' is {'Fortran-ordered' if fortran else 'an object array'}; "
                                 "stream=on needs C-ordered numeric arrays (or set stream=off)")
            try:
                maps[key] = np.memmap(path, dtype=dtype, mode="r", offset=raw.tell(), shape=shape)
            except ValueError as exc:  # the header promises more bytes than the file holds
                raise ValueError(f"npz '{path}': member '{key}' is truncated ({exc})") from None
    return maps


class ArrayRows(LazyRows):
    """Rows ``indices`` (all when None) of a memory-mapped array, as float32 tensors; ``stats``
    (mean, std), shaped to broadcast over a batch, standardise them in ``finish``."""

    def __init__(self, array: np.ndarray, indices: np.ndarray | None = None, workers: int = 2,
                 stats: tuple[torch.Tensor, torch.Tensor] | None = None) -> None:
        self.array = array
        self.indices = None if indices is None else np.asarray(indices, dtype=np.int64)
        self.workers = workers
        self.row_shape = tuple(int(s) for s in array.shape[1:])
        self.stats = stats

    def __len__(self) -> int:
        return len(self.array) if self.indices is None else len(self.indices)

    def read(self, index: int, augment_seed: int | None = None) -> torch.Tensor:
        row = self.array[index if self.indices is None else int(self.indices[index])]
        return torch.from_numpy(np.array(row))  # a copy: the map stays read-only and can be paged out

    def finish(self, raw: torch.Tensor) -> torch.Tensor:
        x = raw.float()
        if self.stats is not None:
            mean, std = self.stats
            x = (x - mean.to(x.device)) / std.to(x.device)
        return x


def chunked_channel_stats(array: np.ndarray, rows: np.ndarray | None, chunk_bytes: int = 64 << 20) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel (dim 1) mean and std of ``array[rows]`` (all rows when None), read a chunk of rows at
    a time (a memory map is never held whole), shaped ``(1, C, 1, ...)`` to broadcast over a batch."""
    rows = np.arange(len(array)) if rows is None else np.asarray(rows)
    step = max(1, chunk_bytes // max(1, array[:1].nbytes))
    total = total_sq = None
    count = 0
    for start in range(0, len(rows), step):
        x = torch.from_numpy(np.asarray(array[np.sort(rows[start : start + step])], dtype=np.float64))
        x = x.transpose(0, 1).reshape(x.shape[1], -1)
        total = x.sum(1) if total is None else total + x.sum(1)
        total_sq = (x * x).sum(1) if total_sq is None else total_sq + (x * x).sum(1)
        count += x.shape[1]
    mean = total / count
    std = ((total_sq / count - mean * mean) * count / max(1, count - 1)).clamp_min(0).sqrt()
    std = torch.where(std > 1e-6, std, torch.ones_like(std))  # a constant channel is centred, not blown up (as scikit-learn does)
    shape = (1, len(mean), *([1] * (array.ndim - 2)))
    return mean.float().reshape(shape), std.float().reshape(shape)
