"""A uint8 cache of evaluation-transform rows, shared by a process and its (forked) DataLoader workers.

Rows are written by whichever process decodes them first and marked in a flag array after the write.
``memory``: an anonymous shared mapping (pages are committed only as rows arrive). ``disk``: a
``.npy`` memmap under the cache folder, named by a key of the file list, sizes, mtimes and transform
sizes. It is filled as ``NAME.partial.npy`` (+ ``NAME.filled`` flags, so a stopped run resumes
filling) and, once complete, flushed, fsynced and renamed to ``NAME.npy`` as dann_core.files does:
a complete cache file is never torn, and an incomplete one is never taken as complete.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import mmap
import os
from pathlib import Path

import numpy as np
import torch

from dann_core.files import fsync_dir

CACHE_KINDS = ("none", "memory", "disk")
CACHE_VERSION = 1


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "dann" / "image-rows"


def cache_key(listing, transform) -> str:
    """A digest of everything a cached row depends on."""
    digest = hashlib.sha256()
    digest.update(json.dumps([CACHE_VERSION, listing.roots, transform.size, transform.resize, list(transform.background)]).encode())
    digest.update(np.ascontiguousarray(listing.root_index).tobytes())
    digest.update(b"\0".join(listing.files.tolist()))
    digest.update(np.ascontiguousarray(listing.stamps).tobytes())
    return digest.hexdigest()[:24]


@contextlib.contextmanager
def _locked(path: Path):
    """An exclusive lock on the cache's folder while a cache file is created or sealed (other processes
    filling or sealing one wait); flock on the folder itself, so no lock file is left behind."""
    try:
        import fcntl
    except ImportError:  # no flock (Windows): one process per cache file
        yield
        return
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


_OPEN_DISK_CACHES: dict[str, "RowCache"] = {}


def disk_cache(n: int, row_shape: tuple[int, ...], path: Path) -> "RowCache":
    """The process's one RowCache of ``path`` (splits reading the same files share it)."""
    key = str(Path(path).absolute())
    cache = _OPEN_DISK_CACHES.get(key)
    if cache is None or cache.n != n or cache.row_shape != tuple(row_shape):
        cache = _OPEN_DISK_CACHES[key] = RowCache(n, row_shape, path)
    return cache


def _reserve(path: Path) -> None:
    """Give the (sparse) cache file its disk blocks now: rows written through the mapping into a
    full disk would kill the process with SIGBUS; here a full disk is an OSError naming the file."""
    import errno

    allocate = getattr(os, "posix_fallocate", None)
    if allocate is None:
        return
    try:
        with open(path, "rb+") as file:
            allocate(file.fileno(), 0, os.fstat(file.fileno()).st_size)
    except OSError as exc:
        path.unlink(missing_ok=True)
        if exc.errno in (errno.EOPNOTSUPP, errno.EINVAL):  # a file system without fallocate: cache as before
            return
        raise OSError(exc.errno, f"{exc.strerror} (the image cache; free space or set dataset.cache_dir elsewhere)", str(path)) from None


class RowCache:
    """``n`` uint8 rows of ``row_shape``; ``get(i)`` is None until ``put(i, row)``.

    Forked workers share the mapping. A worker started by spawn/forkserver gets, for a memory cache,
    a detached one (it decodes every row itself), and for a disk cache the same file, mapped anew."""

    def __init__(self, n: int, row_shape: tuple[int, ...], path: Path | None = None) -> None:
        self.n, self.row_shape, self.path = n, tuple(row_shape), path
        self.detached = False
        shape = (n, *self.row_shape)
        if path is None:
            size = int(np.prod(shape))
            self._buffer = mmap.mmap(-1, size + n)  # MAP_SHARED | MAP_ANONYMOUS: forked workers write into it
            self.rows = np.frombuffer(self._buffer, np.uint8, count=size).reshape(shape)
            self.filled = np.frombuffer(self._buffer, np.uint8, count=n, offset=size)
            self.complete = False
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        with _locked(path):
            if path.is_file():
                self.rows = np.load(path, mmap_mode="c")  # copy-on-write: pages shared, never written back
                if self.rows.shape == shape and self.rows.dtype == np.uint8:
                    self.filled, self.complete = np.ones(n, np.uint8), True
                    return
                path.unlink()
            partial, flags = self._partial_paths()
            if not (partial.is_file() and flags.is_file() and flags.stat().st_size == n):
                partial.unlink(missing_ok=True)
                np.lib.format.open_memmap(partial, mode="w+", dtype=np.uint8, shape=shape).flush()
                _reserve(partial)
                flags.write_bytes(bytes(n))
            self.rows = np.load(partial, mmap_mode="r+")
            self.filled = np.memmap(flags, dtype=np.uint8, mode="r+", shape=(n,))
        self.complete = False

    def __getstate__(self) -> dict:
        return {"n": self.n, "row_shape": self.row_shape, "path": self.path}

    def __setstate__(self, state: dict) -> None:
        if state["path"] is not None:
            self.__init__(state["n"], state["row_shape"], state["path"])
            return
        self.n, self.row_shape, self.path = state["n"], state["row_shape"], None
        self.rows = self.filled = None
        self.complete, self.detached = False, True

    def _partial_paths(self) -> tuple[Path, Path]:
        stem = self.path.name[: -len(".npy")]
        return self.path.with_name(stem + ".partial.npy"), self.path.with_name(stem + ".filled")

    def get(self, index: int) -> torch.Tensor | None:
        if self.detached or not self.filled[index]:
            return None
        return torch.from_numpy(np.array(self.rows[index]))

    def put(self, index: int, row: torch.Tensor) -> None:
        if self.detached or self.complete:
            return
        self.rows[index] = row.numpy()
        self.filled[index] = 1

    def missing(self) -> np.ndarray:
        return np.flatnonzero(self.filled == 0)

    def tensor(self) -> torch.Tensor:
        """Every row (call once all are filled)."""
        return torch.from_numpy(self.rows)

    def seal(self) -> bool:
        """Once every row is in, make a disk cache final (atomically); returns whether it is complete."""
        if self.complete or self.detached or self.missing().size:
            return self.complete
        if self.path is not None:
            partial, flags = self._partial_paths()
            self.rows.flush()
            with _locked(self.path):
                if partial.is_file():  # else another process sealed the same rows first
                    with open(partial, "rb+") as file:
                        os.fsync(file.fileno())
                    os.replace(partial, self.path)
                    fsync_dir(self.path.parent)
                flags.unlink(missing_ok=True)
        self.complete = True
        return True
