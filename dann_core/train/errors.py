"""The ways a run stops that a user can act on, each one line."""
from __future__ import annotations


class RunError(ValueError):
    """A run that cannot start or continue (bad run directory, missing labels, ...); one line."""


class DivergedError(RuntimeError):
    """Training produced a NaN/inf loss; the run directory keeps the last good checkpoint."""


class WorkerLostError(RuntimeError):
    """A process the run depends on died (a DataLoader worker, another data-parallel process); the
    run directory keeps the last checkpoint, so the run can be resumed."""


class MethodContractError(RunError):
    """A method broke its contract at its first step (an objective that is not a scalar loss); one
    line naming the method. A new run that fails so is removed: it never trained."""


_WARNED: set[str] = set()


def warn_renamed(old: str, new: str) -> None:
    """One DeprecationWarning per process for ``old``, an attribute now called ``new`` ("method" everywhere)."""
    if old not in _WARNED:
        import warnings

        _WARNED.add(old)
        warnings.warn(f"{old} is renamed {new}", DeprecationWarning, stacklevel=3)
