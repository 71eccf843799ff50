"""The data feed of a run: one seeded, resumable sampler per batch kind the method needs, and the
rows of each batch on the training device.

Rows are indexed from a tensor (moved to the training device once when everything fits in half of
its free memory, so a step copies nothing), or streamed by DataLoader workers (LazyRows without a
resident tensor, :mod:`.stream`).
"""
from __future__ import annotations

import sys
from typing import Any

import torch

from ..methods import SOURCE, TARGET, TARGET_LABELLED, Batch
from ..config import FIELDS
from ..rows import is_lazy
from ..specs import DomainData
from .assembly import num_domains
from .distributed import World
from .errors import RunError
from .sampler import BatchSampler, DomainBalancedSampler
from .stream import StreamedRows


DEFAULT_BATCH_SIZE = FIELDS["batch_size"].default
"""A run left at the default batch size on data smaller than it trains with the largest split's size."""


def sampler_seed(seed: int, kind: str) -> int:
    """The seed of ``kind``'s sampler (and of its rows' training transforms), fixed per run seed."""
    return seed * 1_000_003 + {SOURCE: 1, TARGET: 2, TARGET_LABELLED: 3}[kind]


class Feed:
    """``next_batch()`` → the :class:`Batch` of the kinds in ``needs``; ``state_dict`` for checkpoints."""

    def __init__(self, data: DomainData, needs, batch_size: int, seed: int, device: torch.device, world: World) -> None:
        self.data, self.seed, self.device, self.world = data, seed, device, world
        self.samplers = self._make_samplers(needs, batch_size)
        self._place()

    def _make_samplers(self, needs, batch: int) -> dict[str, BatchSampler | DomainBalancedSampler]:
        """With several source domains the source sampler is balanced: every domain fills an equal share."""
        data = self.data
        sizes = {SOURCE: len(data.source_train), TARGET: len(data.target_train), TARGET_LABELLED: len(data.target_train)}
        largest = max(sizes[kind] for kind in needs)
        if batch > largest and batch == DEFAULT_BATCH_SIZE and largest >= self.world.size:
            # the default, not the user's choice: a small tree (image-folder) trains with what it has
            capped = largest - largest % self.world.size
            if self.world.writes:
                print(f"note: the default batch_size {batch} is larger than every split the run samples; "
                      f"training with batch_size {capped} (the largest split has {largest} rows; --batch-size sets it)", file=sys.stderr)
            batch = capped
        if batch > largest:
            raise RunError(f"batch_size {batch} is larger than every split the run samples (the largest has {largest} rows); use at most {largest}")
        samplers = {}
        for kind in sorted(needs):
            if kind == SOURCE and num_domains(data) > 2:
                samplers[kind] = DomainBalancedSampler(data.domains, batch, seed=sampler_seed(self.seed, kind))
            else:
                samplers[kind] = BatchSampler(sizes[kind], batch, seed=sampler_seed(self.seed, kind))
        return samplers

    def _place(self) -> None:
        data, device = self.data, self.device
        inputs = {SOURCE: data.source_train.x, TARGET: data.target_train.x, TARGET_LABELLED: data.target_train.x}
        self.streams: dict[str, StreamedRows] = {}
        indexed: dict[str, tuple[torch.Tensor, Any]] = {}
        for kind in self.samplers:
            x = inputs[kind]
            resident = x.resident() if is_lazy(x) else None
            if is_lazy(x) and resident is None:
                self.streams[kind] = StreamedRows(x, self.samplers[kind], sampler_seed(self.seed, kind), device, self.world)
            elif is_lazy(x):
                indexed[kind] = (resident, x.finish)
            else:
                indexed[kind] = (x, None)
        labels = {
            "source_y": data.source_train.y if SOURCE in self.samplers else None,
            "source_domains": data.domains.long() if data.domains is not None and num_domains(data) > 2 else None,
            "target_y": data.target_train.y if TARGET_LABELLED in self.samplers else None,
        }
        tensors = {**{kind: t for kind, (t, _) in indexed.items()}, **labels}
        if device.type != "cpu":
            size = sum(t.numel() * t.element_size() for t in {id(t): t for t in tensors.values() if t is not None}.values())
            free = torch.cuda.mem_get_info(device)[0] if device.type == "cuda" else 0
            if size <= free // 2:
                moved: dict[int, torch.Tensor] = {}
                tensors = {k: None if t is None else moved.setdefault(id(t), t.to(device)) for k, t in tensors.items()}
        self.indexed = {kind: (tensors[kind], finish) for kind, (_, finish) in indexed.items()}
        self.labels = {key: tensors[key] for key in labels}

    def _draw(self, kind: str) -> tuple[torch.Tensor, torch.Tensor]:
        """(inputs on the training device, their row indices) of the next batch of ``kind``."""
        if kind in self.streams:
            return self.streams[kind].next()
        tensor, finish = self.indexed[kind]
        sampler = self.samplers[kind]
        # indices are drawn where the rows live: no host-device copy per step when the split is on the device
        _, idx = self.world.share(sampler.next(tensor.device) if isinstance(sampler, BatchSampler) else sampler.next())
        rows = tensor[idx.to(tensor.device)].to(self.device)
        return (finish(rows) if finish is not None else rows), idx

    def _labels(self, key: str, idx: torch.Tensor) -> torch.Tensor:
        tensor = self.labels[key]
        return tensor[idx.to(tensor.device)].to(self.device)

    def next_batch(self) -> Batch:
        batch = Batch()
        if SOURCE in self.samplers:
            batch.source_x, idx = self._draw(SOURCE)
            batch.source_y = self._labels("source_y", idx)
            if self.labels["source_domains"] is not None:
                batch.source_domains = self._labels("source_domains", idx)
        if TARGET in self.samplers:
            batch.target_x, _ = self._draw(TARGET)
        if TARGET_LABELLED in self.samplers:
            batch.labelled_target_x, idx = self._draw(TARGET_LABELLED)
            batch.labelled_target_y = self._labels("target_y", idx)
        return batch

    def close(self) -> None:
        """Stop every DataLoader worker (batches read ahead stay pending, to be read again)."""
        for stream in self.streams.values():
            stream.close()

    def state_dict(self) -> dict[str, Any]:
        return {
            "samplers": {name: sampler.state_dict() for name, sampler in self.samplers.items() if name not in self.streams},
            "streams": {name: stream.state_dict() for name, stream in self.streams.items()},
        }

    def load_state_dict(self, state: dict[str, Any], source: Any) -> None:
        """Continue the checkpoint's sampling; ``source`` (the run dir) names the run in errors."""
        for name, sampler in self.samplers.items():
            saved = state["streams"][name]["sampler"] if name in self.streams else state["samplers"][name]
            if isinstance(sampler, DomainBalancedSampler) and "domains" not in saved:
                raise RunError(f"{source} was checkpointed before multi-source batches were balanced per source "
                               "domain and cannot continue exactly; retrain it")
            if name in self.streams:
                self.streams[name].load_state_dict(state["streams"][name])
            else:
                sampler.load_state_dict(state["samplers"][name])
