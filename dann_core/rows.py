"""Inputs read on demand: what a :class:`~dann_core.specs.Split`'s ``x`` may be instead of a tensor.

A dataset whose inputs should not be decoded up front (image folders, anything larger than memory)
gives its splits an ``x`` that subclasses :class:`LazyRows`:

- ``read(index, augment_seed)`` returns one *raw* row (e.g. a uint8 ``C×H×W`` tensor: small to keep,
  pin and copy). ``augment_seed=None`` is the evaluation transform; an int is the training transform
  drawn from that seed, so the same seed always gives the same row (exact resume, any worker order).
- ``finish(raw_batch)`` turns a batch of raw rows into the float inputs the networks see
  (``/255``, normalisation). The trainer calls it on the training device, after the copy.
- ``resident()`` may return every raw row as one tensor when reading is deterministic (no
  augmentation), so small sets are indexed directly instead of going through a DataLoader.

Everything that reads inputs goes through :func:`batches` (in order, evaluation transform, decoded by
``rows.workers`` DataLoader workers) or :func:`take` (a lazy subset); indexing a LazyRows
(``x[i]``, ``x[a:b]``, ``x[index_tensor]``) decodes those rows eagerly in this process, as a tensor
would give them. The trainer streams training batches (dann_core.train.stream).
"""
from __future__ import annotations

from typing import Iterator, Sequence

import numpy as np
import torch

from . import stops

EVAL_BATCH = 256


EVAL_BATCH_BYTES = 32 << 20
"""Float input bytes per evaluation batch at most: a batch's activations, not the data's size, set
an evaluation's peak memory (224-px images: 53 rows, whose LeNet activations are ~200 MB)."""


def eval_batch(device, x=None) -> int:
    """Rows per evaluation forward: 256 on a CPU (a LeNet forward of 2,000 rows took half the time
    of batches of 1,024: they fall out of cache), 1,024 on a GPU (fewer launches); fewer for large
    rows of ``x``, so that a batch holds at most :data:`EVAL_BATCH_BYTES` of float inputs."""
    rows = 1024 if torch.device(device).type == "cuda" else EVAL_BATCH
    if x is not None:
        shape = x.row_shape if is_lazy(x) else tuple(x.shape[1:])
        row_bytes = 4 * max(1, int(np.prod(shape)))
        rows = min(rows, max(8, EVAL_BATCH_BYTES // row_bytes))
    return rows


class LazyRows:
    """Rows of one split read on demand. Subclasses implement ``__len__``, ``read`` and set ``row_shape``."""

    row_shape: tuple[int, ...] = ()
    dtype = torch.float32
    device = torch.device("cpu")
    """Rows are read on the host (lets code written for tensors move index tensors next to them)."""
    workers: int = 0
    """DataLoader worker processes that decode this split's rows (0: in the calling process)."""

    def __len__(self) -> int:
        raise NotImplementedError(f"{type(self).__name__} must implement __len__")

    def read(self, index: int, augment_seed: int | None = None) -> torch.Tensor:
        """One raw row: the evaluation transform when ``augment_seed`` is None, else the training one."""
        raise NotImplementedError(f"{type(self).__name__} must implement read(index, augment_seed)")

    def finish(self, raw: torch.Tensor) -> torch.Tensor:
        """Float model inputs from a batch of raw rows (on whatever device ``raw`` is)."""
        return raw.float()

    def resident(self) -> torch.Tensor | None:
        """Every raw row as one tensor, when reading is deterministic and already in memory; else None."""
        return None

    def adopt_normalization(self, name: str) -> None:
        """The backbone expects inputs normalised as ``name`` (e.g. ``imagenet``); rows that were told to
        follow the backbone use it. Called before training reads any row. Default: ignored."""

    def normalization_state(self) -> dict | None:
        """What ``finish`` normalises with, when it was derived from the data (e.g. statistics estimated
        from the source images): saved in checkpoints, so a run is evaluated as it was trained even if
        the files change. Default: None (nothing derived)."""
        return None

    def load_normalization_state(self, state: dict) -> None:
        """Normalise with a checkpoint's ``normalization_state()`` from now on. Default: ignored."""

    @property
    def shape(self) -> tuple[int, ...]:
        return (len(self), *self.row_shape)

    def subset(self, indices) -> "LazyRows":
        """The rows at ``indices`` (a lazy view: nothing is read)."""
        return RowSubset(self, indices)

    def __getitem__(self, key) -> torch.Tensor:
        if isinstance(key, (int, np.integer)):
            return self[[int(key)]][0]
        if isinstance(key, slice):
            indices: Sequence[int] = range(*key.indices(len(self)))
        else:
            indices = [int(i) for i in torch.as_tensor(key).reshape(-1).tolist()]
        if not indices:
            return torch.empty((0, *self.row_shape), dtype=self.dtype)
        resident = self.resident()
        if resident is not None:
            return self.finish(resident[torch.as_tensor(list(indices), dtype=torch.long)])
        return self.finish(torch.stack([self.read(i) for i in indices]))

    def numpy(self) -> np.ndarray:
        return materialize(self).numpy()


class RowSubset(LazyRows):
    """``rows`` restricted to ``indices``, in that order."""

    def __init__(self, rows: LazyRows, indices) -> None:
        self.rows = rows
        self.indices = torch.as_tensor(np.asarray(indices), dtype=torch.long).reshape(-1)
        self.row_shape = rows.row_shape
        self.dtype = rows.dtype
        self.workers = rows.workers

    def __len__(self) -> int:
        return len(self.indices)

    def read(self, index: int, augment_seed: int | None = None) -> torch.Tensor:
        return self.rows.read(int(self.indices[index]), augment_seed)

    def finish(self, raw: torch.Tensor) -> torch.Tensor:
        return self.rows.finish(raw)

    def resident(self) -> torch.Tensor | None:
        whole = self.rows.resident()
        return None if whole is None else whole[self.indices]

    def adopt_normalization(self, name: str) -> None:
        self.rows.adopt_normalization(name)

    def normalization_state(self) -> dict | None:
        return self.rows.normalization_state()

    def load_normalization_state(self, state: dict) -> None:
        self.rows.load_normalization_state(state)

    def subset(self, indices) -> LazyRows:
        return RowSubset(self.rows, self.indices[torch.as_tensor(np.asarray(indices), dtype=torch.long)])


class RowReadError(ValueError):
    """A row could not be read (a file that cannot be decoded, ...): one line naming it."""


def _clean(exc: BaseException) -> str:
    """The reader's own one-line message of an error re-raised by a DataLoader from a worker (torch
    wraps it in 'Caught X in DataLoader worker process N' and the worker's traceback)."""
    lines = [line for line in str(exc).strip().splitlines() if line.strip()]
    last = lines[-1] if lines else type(exc).__name__
    for prefix in ("dann_core.rows.RowReadError: ", "RowReadError: "):
        last = last.removeprefix(prefix)
    return last


def read_batches(iterator):
    """``next()`` over a DataLoader iterator with a RowReadError reduced to the reader's one line.

    The iterator's workers stop when this generator ends, however it ends: an error's traceback
    (kept by a caller, or a test runner) would otherwise keep them alive, idle, after the run."""
    try:
        while True:
            try:
                yield next(iterator)
            except StopIteration:
                return
            except RowReadError as exc:
                raise RowReadError(_clean(exc)) from None
    finally:
        shutdown = getattr(iterator, "_shutdown_workers", None)
        if shutdown is not None:
            shutdown()


class RowsDataset(torch.utils.data.Dataset):
    """The map-style dataset a DataLoader reads ``rows`` through: a key is an index (evaluation
    transform) or an ``(index, augment_seed)`` pair (training transform)."""

    def __init__(self, rows: LazyRows) -> None:
        self.rows = rows

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, key) -> torch.Tensor:
        try:
            if isinstance(key, tuple):
                return self.rows.read(int(key[0]), int(key[1]))
            return self.rows.read(int(key))
        except RowReadError:
            raise
        except (ValueError, OSError) as exc:  # the reader's message about its input, one line
            raise RowReadError(_clean(exc)) from None


def is_lazy(x) -> bool:
    return isinstance(x, LazyRows)


def take(x, indices):
    """Rows ``indices`` of ``x``: a tensor indexed, or a lazy subset of a LazyRows (nothing read)."""
    if is_lazy(x):
        return x.subset(indices)
    return x[torch.as_tensor(np.asarray(indices), dtype=torch.long) if not isinstance(indices, torch.Tensor) else indices]


def batches(x, batch_size: int = EVAL_BATCH, device: torch.device | str = "cpu") -> Iterator[torch.Tensor]:
    """The rows of ``x`` in order, ``batch_size`` at a time, as float inputs on ``device``.

    A tensor is sliced; a LazyRows is read with the evaluation transform by ``x.workers`` DataLoader
    workers (pinned memory when copying to CUDA) and finished on ``device``.
    """
    device = torch.device(device)
    if not is_lazy(x):
        for start in range(0, len(x), batch_size):
            yield x[start : start + batch_size].to(device)
        return
    resident = x.resident()
    if resident is not None:
        for start in range(0, len(x), batch_size):
            yield x.finish(resident[start : start + batch_size].to(device))
        return
    # rows read on demand are big (images): smaller batches bound the memory workers read ahead
    for raw in raw_batches(x, min(batch_size, EVAL_BATCH), device):
        yield x.finish(raw.to(device, non_blocking=True))


class _Loader(torch.utils.data.DataLoader):
    """A DataLoader whose workers start with the stop signals held back (:func:`dann_core.stops.blocked`)
    and cannot outlive this process (:func:`dann_core.stops.track_workers`)."""

    def _get_iterator(self):
        with stops.blocked():
            iterator = super()._get_iterator()
        stops.track_workers(getattr(iterator, "_workers", ()))
        return iterator


def loader(rows: LazyRows, batch_size: int, device: torch.device, batch_sampler=None) -> torch.utils.data.DataLoader:
    """A DataLoader over ``rows``: in order in ``batch_size`` chunks, or the keys ``batch_sampler`` yields."""
    workers = max(0, int(rows.workers))
    sizing = {"batch_sampler": batch_sampler} if batch_sampler is not None else {"batch_size": batch_size, "shuffle": False}
    return _Loader(
        RowsDataset(rows),
        worker_init_fn=stops.worker_init,  # workers ignore Ctrl-C and TERM: the run stops them (dann_core.stops)
        num_workers=workers,
        pin_memory=torch.device(device).type == "cuda",
        persistent_workers=False,
        prefetch_factor=2 if workers else None,
        # rows draw their randomness from explicit seeds; a generator of its own keeps the loader's
        # worker seeding from drawing on the global RNG (which would break an exact resume)
        generator=torch.Generator().manual_seed(0),
        **sizing,
    )


def raw_batches(rows: LazyRows, batch_size: int = EVAL_BATCH, device: torch.device | str = "cpu"):
    """The raw rows of ``rows`` in order (evaluation transform), read by its workers, on the CPU (pinned
    when bound for CUDA ``device``); a row that cannot be read is one RowReadError line."""
    return read_batches(iter(loader(rows, batch_size, device)))


def materialize(x) -> torch.Tensor:
    """Every row of ``x`` as one float tensor on the CPU (for small sets and plots only)."""
    if not is_lazy(x):
        return x
    parts = list(batches(x))
    return torch.cat(parts) if parts else torch.empty((0, *x.row_shape), dtype=x.dtype)
