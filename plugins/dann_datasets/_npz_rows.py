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
    """Rows ``indices`` (all when None) of a memory-mapped array, as float32 tensors."""

    def __init__(self, array: np.ndarray, indices: np.ndarray | None = None, workers: int = 2) -> None:
        self.array = array
        self.indices = None if indices is None else np.asarray(indices, dtype=np.int64)
        self.workers = workers
        self.row_shape = tuple(int(s) for s in array.shape[1:])

    def __len__(self) -> int:
        return len(self.array) if self.indices is None else len(self.indices)

    def read(self, index: int, augment_seed: int | None = None) -> torch.Tensor:
        row = self.array[index if self.indices is None else int(self.indices[index])]
        return torch.from_numpy(np.array(row))  # a copy: the map stays read-only and can be paged out

    def finish(self, raw: torch.Tensor) -> torch.Tensor:
        return raw.float()
