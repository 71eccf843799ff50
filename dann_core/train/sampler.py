"""Seeded, resumable minibatch sampling: shuffled passes over a split, drawn from a private generator."""
from __future__ import annotations

from typing import Any

import torch


class BatchSampler:
    """Index batches of ``batch_size`` from ``range(n)``, one shuffled pass after another.

    A batch larger than ``n`` or straddling the end of a pass continues into the next pass. The
    generator, the current permutation and the position in it are the whole state, so
    ``load_state_dict(state_dict())`` continues the exact sequence.
    """

    def __init__(self, n: int, batch_size: int, seed: int) -> None:
        if n < 1:
            raise ValueError("cannot sample batches from an empty split")
        self.n = n
        self.batch_size = batch_size
        self.generator = torch.Generator().manual_seed(seed)
        self.permutation = torch.randperm(n, generator=self.generator)
        self.position = 0

    def next(self, device: torch.device | None = None) -> torch.Tensor:
        """The next batch of indices; on ``device`` when given, sliced from a copy of the pass's
        permutation made once per pass (so a step copies no indices from the host)."""
        chunks, needed = [], self.batch_size
        while needed:
            if self.position == self.n:
                self.permutation = torch.randperm(self.n, generator=self.generator)
                self.position = 0
            take = min(needed, self.n - self.position)
            chunks.append(self._on(device)[self.position : self.position + take])
            self.position += take
            needed -= take
        return chunks[0] if len(chunks) == 1 else torch.cat(chunks)

    def _on(self, device: torch.device | None) -> torch.Tensor:
        if device is None or device == self.permutation.device:
            return self.permutation
        copy = getattr(self, "_copy", None)
        if copy is None or copy[0] is not self.permutation or copy[1].device != device:
            self._copy = (self.permutation, self.permutation.to(device))
        return self._copy[1]

    def state_dict(self) -> dict[str, Any]:
        return {"generator": self.generator.get_state(), "permutation": self.permutation.clone(), "position": self.position}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.generator.set_state(state["generator"])
        self.permutation = state["permutation"].clone()
        self.position = int(state["position"])


class DomainBalancedSampler:
    """Index batches with the same number of rows from each source domain (multi-source training).

    ``domains[i]`` is the domain of row ``i``. Each domain has its own :class:`BatchSampler`; a batch
    of ``batch_size`` takes ``batch_size // K`` rows from every domain and one more from the first
    ``batch_size % K``, so a small domain is revisited more often instead of being drowned out.
    """

    def __init__(self, domains: torch.Tensor, batch_size: int, seed: int) -> None:
        domains = torch.as_tensor(domains, dtype=torch.long)
        ids = torch.unique(domains).tolist()
        self.rows = [torch.nonzero(domains == d).reshape(-1) for d in ids]
        k = len(ids)
        sizes = [batch_size // k + (1 if i < batch_size % k else 0) for i in range(k)]
        self.n = len(domains)
        self.batch_size = batch_size
        self.samplers = [BatchSampler(len(rows), size, seed * 131 + i) if size else None
                         for i, (rows, size) in enumerate(zip(self.rows, sizes))]

    def next(self) -> torch.Tensor:
        parts = [rows[s.next()] for rows, s in zip(self.rows, self.samplers) if s is not None]
        # round-robin over domains, so every data-parallel share of the batch holds every domain
        order = torch.cat([torch.arange(len(part)) * len(parts) + d for d, part in enumerate(parts)])
        return torch.cat(parts)[torch.argsort(order)]

    def state_dict(self) -> dict[str, Any]:
        return {"domains": [s.state_dict() if s is not None else None for s in self.samplers]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for sampler, part in zip(self.samplers, state["domains"]):
            if sampler is not None:
                sampler.load_state_dict(part)
