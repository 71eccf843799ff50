"""A run's stored views (``views/step-N.pt``: the logits of the named views at every evaluation) and
kept checkpoints as selection candidates: what the trainer writes, and what :mod:`.stored` reads back.
A module of its own so that evaluation (which writes them) does not import the reader, which needs
:func:`~dann_core.train.api.load_run` (that would be an import circle through the trainer).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import torch

from .. import checkpoint as ckpt
from .. import files
from ..selection import Candidate, SelectionData
from .candidates import candidate_files, candidate_name

VIEWS_DIR = "views"


def write_views(run_dir: Path, step: int, logits: dict[str, torch.Tensor]) -> None:
    """``views/step-N.pt`` of one evaluation, written atomically (never through a link)."""
    directory = run_dir / VIEWS_DIR
    path = files.refuse_links(directory / candidate_name(step), run_dir)
    directory.mkdir(exist_ok=True)
    ckpt.atomic_save({"step": step, "logits": logits}, path)
    for leftover in directory.glob(".step-*.tmp"):  # a write killed half-way
        leftover.unlink(missing_ok=True)


def view_files(run_dir: Path) -> dict[int, Path]:
    """step → views file of a run directory."""
    directory = Path(run_dir) / VIEWS_DIR
    return {int(p.stem.split("-")[1]): p for p in candidate_files(directory)} if directory.is_dir() else {}


def read_views(path: Path) -> dict[str, torch.Tensor]:
    """The stored logits of one evaluation, by view name (float32, CPU)."""
    return {name: value.float() for name, value in ckpt.load(path)["logits"].items()}


class KeptCandidate(Candidate):
    """A kept checkpoint as a candidate: ``load()`` (its state) is loaded into the shared ``method``
    the first time one of its outputs is computed; candidates sharing a ``holder`` dict take turns on
    the one model (outputs are cached, so each loads at most once per input)."""

    def __init__(self, step: int, load: Callable[[], dict], method: Any, data: SelectionData, device="cpu",
                 config: Any = None, registry: Any = None, holder: dict | None = None) -> None:
        super().__init__(step, method, data, device, config, registry)
        self.load, self._holder = load, holder if holder is not None else {}

    def _forward(self, x, features: bool):
        cached = self._outputs.get(id(x))
        if (cached is None or (features and cached[1] is None)) and self._holder.get("loaded") is not self:
            self.method.load_state_dict(self.load()["method"])
            self._holder["loaded"] = self
        return super()._forward(x, features)
