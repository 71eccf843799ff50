"""The fixed views of a run's data that every evaluation forwards and stores (``RUN_DIR/views``).

Three named views, the same rows at every evaluation of a run:

- ``source_val``: the whole labelled source validation split (its labels: ``data.source_val.y``);
- ``target``: at most :data:`VIEW_ROWS` unlabelled target training rows (the first of one seeded
  permutation: :meth:`SelectionData.subsample`);
- ``target_mix``: the ``target`` rows mixed pairwise, row i = MIX_WEIGHT·t[i] + (1 − MIX_WEIGHT)·t[i+1]
  (the next row of the view, cyclically: no row is mixed with itself). MixVal's probes.

A run stores the class logits of each view at each evaluation (``views/step-N.pt``), so a selector
that reads only these logits scores every evaluated step after the run, from the files alone.
Size rule: a view holds at most VIEW_ROWS rows (source_val: the split, whatever its size), and each
stored file is rows × classes float32 numbers (digits-blend: 3 × 1,000 × 10, 120 kB per evaluation).
Features are not stored: a LeNet's 768 features of 2,000 rows in float16 (3 MB) outweigh the whole
checkpoint (0.8 MB) that recomputes them, so selectors that need features score kept candidates.
"""
from __future__ import annotations

from typing import Any

import torch

from ..rows import LazyRows, is_lazy

VIEW_ROWS = 1000
"""Rows of the ``target`` view (and the default ``max_samples`` of the built-in selectors)."""
MIX_WEIGHT = 0.55
"""Weight of the dominant row of a ``target_mix`` probe (MixVal's λ: its label is that row's)."""
VIEW_NAMES = ("source_val", "target", "target_mix")


class MixedRows(LazyRows):
    """Lazily read rows mixed pairwise: row i is ``weight``·rows[i] + (1 − weight)·rows[partner[i]],
    mixed after each row's own ``finish`` (on the model's float inputs, as a tensor view is)."""

    def __init__(self, rows: LazyRows, partner: torch.Tensor, weight: float) -> None:
        self.rows, self.partner, self.weight = rows, partner, weight
        self.row_shape, self.dtype, self.workers = rows.row_shape, rows.dtype, rows.workers

    def __len__(self) -> int:
        return len(self.partner)

    def read(self, index: int, augment_seed: int | None = None) -> torch.Tensor:
        return torch.stack([self.rows.read(index, augment_seed), self.rows.read(int(self.partner[index]), augment_seed)])

    def finish(self, raw: torch.Tensor) -> torch.Tensor:
        return self.weight * self.rows.finish(raw[:, 0]) + (1 - self.weight) * self.rows.finish(raw[:, 1])

    def normalization_state(self) -> dict | None:
        return self.rows.normalization_state()

    def load_normalization_state(self, state: dict) -> None:
        self.rows.load_normalization_state(state)


def mix_partner(n: int) -> torch.Tensor:
    """Row i of a ``target_mix`` view mixes target row i with row ``(i + 1) mod n``."""
    return torch.roll(torch.arange(n), -1)


def mixed(x: Any, weight: float = MIX_WEIGHT) -> Any:
    """The pairwise mixes of the rows of ``x`` (a tensor, or a LazyRows read on demand)."""
    partner = mix_partner(len(x))
    if is_lazy(x):
        return MixedRows(x, partner, weight)
    return weight * x + (1 - weight) * x[partner]


def view_inputs(data) -> dict[str, Any]:
    """The named views' inputs for :class:`~dann_core.selection.SelectionData` ``data`` (the same
    objects at every call, so each candidate forwards each view once)."""
    return {name: data.view(name) for name in VIEW_NAMES}
