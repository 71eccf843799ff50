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

    def next(self) -> torch.Tensor:
        chunks, needed = [], self.batch_size
        while needed:
            if self.position == self.n:
                self.permutation = torch.randperm(self.n, generator=self.generator)
                self.position = 0
            take = min(needed, self.n - self.position)
            chunks.append(self.permutation[self.position : self.position + take])
            self.position += take
            needed -= take
        return torch.cat(chunks)

    def state_dict(self) -> dict[str, Any]:
        return {"generator": self.generator.get_state(), "permutation": self.permutation.clone(), "position": self.position}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.generator.set_state(state["generator"])
        self.permutation = state["permutation"].clone()
        self.position = int(state["position"])
