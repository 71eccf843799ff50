"""Training batches of inputs read on demand (LazyRows): a DataLoader whose workers decode ahead.

The run's seeded sampler stays the only source of indices. :class:`StreamedRows` draws index batches
from it as far ahead as the loader prefetches and remembers the ones handed to the loader but not
yet trained on; the checkpoint holds the sampler *and* those pending batches, so a resumed run trains
on exactly the batches the interrupted one would have. A row's training transform (augmentation) is
seeded by (stream seed, batch number, position in the global batch), never by worker state, so a row
comes out the same whichever worker reads it and however many workers there are.
"""
from __future__ import annotations

from collections import deque
from typing import Any

import torch

from ..rows import LazyRows, loader, read_batches
from .distributed import World
from .errors import WorkerLostError

_SEED_MASK = (1 << 63) - 1


class StreamedRows:
    """Batches of ``rows`` at the indices ``sampler`` draws, read by ``rows.workers`` processes.

    ``world`` takes this process's share of each global batch (data parallel). ``next()`` returns
    ``(inputs on device, this process's indices)``.
    """

    def __init__(self, rows: LazyRows, sampler, seed: int, device: torch.device, world: World = World()) -> None:
        self.rows, self.sampler, self.seed, self.device, self.world = rows, sampler, int(seed), device, world
        self.issued = 0  # batch numbers drawn from the sampler so far
        self.pending: deque[tuple[int, torch.Tensor]] = deque()  # handed to the loader, not yet trained on
        self.replay: deque[tuple[int, torch.Tensor]] = deque()  # pending batches restored from a checkpoint
        self.iterator = self._loader_iterator = None

    def _row_seed(self, number: int, position: int) -> int:
        return ((self.seed * 1_000_003 + number) * 65_537 + position) & _SEED_MASK

    def _keys(self):
        """The loader's batch sampler: lists of (row index, augmentation seed), replayed batches first."""
        while True:
            if self.replay:
                number, idx = self.replay.popleft()
            else:
                number, idx = self.issued, self.sampler.next()
                self.issued += 1
            self.pending.append((number, idx))
            start, mine = self.world.share(idx)
            yield [(int(i), self._row_seed(number, start + k)) for k, i in enumerate(mine.tolist())]

    def next(self) -> tuple[torch.Tensor, torch.Tensor]:
        if self.iterator is None:
            self._loader_iterator = iter(loader(self.rows, 0, self.device, batch_sampler=self._keys()))
            self.iterator = read_batches(self._loader_iterator)
        try:
            raw = next(self.iterator)
        except RuntimeError as exc:
            if "DataLoader worker" not in str(exc):
                raise
            reason = str(exc).strip().splitlines()[0]
            raise WorkerLostError(f"a data-loading worker process died ({reason}); killed, or out of memory?") from None
        _, idx = self.pending.popleft()
        return self.rows.finish(raw.to(self.device, non_blocking=True)), self.world.share(idx)[1]

    def close(self) -> None:
        """Stop the workers now; batches already read ahead are kept as pending, to be read again."""
        if self.iterator is not None:
            shutdown = getattr(self._loader_iterator, "_shutdown_workers", None)
            if shutdown is not None:
                shutdown()
        self.replay = deque(list(self.pending) + list(self.replay))
        self.pending.clear()
        self.iterator = self._loader_iterator = None

    def state_dict(self) -> dict[str, Any]:
        waiting = list(self.pending) + list(self.replay)
        return {"sampler": self.sampler.state_dict(), "issued": self.issued,
                "pending": [(number, idx.clone()) for number, idx in waiting]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.close()
        self.sampler.load_state_dict(state["sampler"])
        self.issued = int(state["issued"])
        self.pending.clear()
        self.replay = deque((int(number), torch.as_tensor(idx)) for number, idx in state["pending"])
