"""Checkpoint files that are never half-written (:func:`dann_core.files.atomic_write`), and the RNG
states a resumed run needs."""
from __future__ import annotations

import random
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from . import files


def atomic_save(obj: Any, path: str | Path, root: str | Path | None = None) -> None:
    """``torch.save(obj, path)`` such that ``path`` always holds a complete checkpoint.

    A failed write (a full disk) raises the OSError the file raised, naming ``path``, where torch
    would say ``[enforce fail at inline_container.cc] unexpected pos``. ``root``: see
    :func:`dann_core.files.atomic_write` (no symbolic link below it)."""

    def write(file) -> None:
        recorder = _RecordingWriter(file)
        try:
            torch.save(obj, recorder)
        except RuntimeError:
            if recorder.error is not None:
                raise recorder.error from None
            raise

    files.atomic_write(path, write, root)


class _RecordingWriter:
    """A binary file that remembers the OSError its ``write`` raised (torch's writer replaces it
    with a RuntimeError that names neither the file nor the reason)."""

    def __init__(self, file) -> None:
        self.file, self.error = file, None

    def write(self, data) -> int:
        try:
            return self.file.write(data)
        except OSError as exc:
            self.error = exc
            raise

    def flush(self) -> None:
        self.file.flush()


class CorruptCheckpointError(files.CorruptFileError):
    """A checkpoint that is truncated, empty, not a torch file or not a dann checkpoint."""


def load(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint written by :func:`atomic_save` (tensors and plain Python data only).

    Raises :class:`CorruptCheckpointError` (one line naming the file) for anything else, and
    FileNotFoundError when it is missing.
    """
    path = Path(path)
    if path.is_file() and path.stat().st_size == 0:
        raise CorruptCheckpointError(f"{path} is empty (0 bytes); {CORRUPT_ADVICE}")
    try:
        with warnings.catch_warnings():  # torch warns (2 lines) about a plain pickle's protocol before failing on it
            warnings.simplefilter("ignore", UserWarning)
            state = torch.load(path, map_location=map_location, weights_only=True)
    except FileNotFoundError:
        raise
    except Exception:  # RuntimeError, EOFError, UnpicklingError, OSError(EINVAL), ...: torch's texts mislead (weights_only=False)
        what = "truncated or overwritten" if _is_zip(path) else "not a torch checkpoint: a plain pickle or another format"
        raise CorruptCheckpointError(f"{path} is not a readable dann checkpoint ({what}); {CORRUPT_ADVICE}") from None
    if not isinstance(state, dict):
        raise CorruptCheckpointError(f"{path} holds a {type(state).__name__}, not a dann checkpoint; {CORRUPT_ADVICE}")
    return upgrade(state)


RENAMED_KEYS = {"algorithm": "method"}
"""Old → new top-level key of a checkpoint: format 2 (before "method" was the one word) stored the
method's weights under ``algorithm``; format 3 under ``method``."""


def upgrade(state: dict[str, Any]) -> dict[str, Any]:
    """``state`` with its old keys renamed (:data:`RENAMED_KEYS`), so every reader sees the current
    keys whatever dann wrote the file; the format entry is left as written."""
    for old, new in RENAMED_KEYS.items():
        if old in state and new not in state:
            state[new] = state.pop(old)
    return state


CORRUPT_ADVICE = "restore it from a copy, or delete the run directory and train again"


def _is_zip(path: Path) -> bool:
    """Whether ``path`` starts as the zip archive torch.save writes."""
    try:
        with open(path, "rb") as file:
            return file.read(4) == b"PK\x03\x04"
    except OSError:
        return False


def rng_state() -> dict[str, Any]:
    """The global RNG states of torch (CPU and CUDA), NumPy and Python, as plain data."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state = {
        "torch": torch.get_rng_state(),
        "numpy": {"kind": kind, "keys": keys.tolist(), "pos": int(pos), "has_gauss": int(has_gauss), "cached": float(cached)},
        "python": random.getstate(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what :func:`rng_state` returned."""
    torch.set_rng_state(state["torch"])
    numpy_state = state["numpy"]
    np.random.set_state(
        (
            numpy_state["kind"],
            np.array(numpy_state["keys"], dtype=np.uint32),
            numpy_state["pos"],
            numpy_state["has_gauss"],
            numpy_state["cached"],
        )
    )
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def seed_everything(seed: int) -> None:
    """Seed torch, NumPy and Python's ``random``."""
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    random.seed(seed)
