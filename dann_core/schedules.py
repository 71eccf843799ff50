"""Schedules of DANN training as pure functions of training progress ``p = step / total_steps`` in [0, 1].

Nothing here keeps state: the trainer stores only its step counter, so a resumed run recomputes
exactly the λ and learning rate an uninterrupted run would have used.
"""
from __future__ import annotations

import math


def progress(step: int, total_steps: int) -> float:
    """Training progress ``p = step / total_steps``, clamped to [0, 1] (0 for an empty run)."""
    if total_steps <= 0:
        return 0.0
    return min(max(step / total_steps, 0.0), 1.0)


def dann_lambda(p: float, gamma: float = 10.0) -> float:
    """The adaptation factor of Ganin & Lempitsky (2015), eq. (14): ``λ_p = 2 / (1 + exp(-γ·p)) - 1``.

    It rises from 0 at p = 0 towards 1, so the domain classifier's noisy early gradients barely reach
    the feature extractor. γ = 10 in the paper.
    """
    return 2.0 / (1.0 + math.exp(-gamma * p)) - 1.0


def annealed_lr(p: float, lr0: float, alpha: float = 10.0, beta: float = 0.75) -> float:
    """The paper's learning-rate annealing: ``μ_p = μ0 / (1 + α·p)^β`` (α = 10, β = 0.75)."""
    return lr0 / (1.0 + alpha * p) ** beta


def constant(value: float):
    """A schedule that ignores progress: ``constant(0.1)(p) == 0.1`` for every p."""

    def schedule(p: float) -> float:
        return value

    return schedule


def lambda_at(p: float, setting: str | float, gamma: float = 10.0) -> float:
    """λ at progress p for a config value: ``"schedule"`` (the paper's ramp) or a constant number."""
    if setting == "schedule":
        return dann_lambda(p, gamma)
    return float(setting)


def lr_at(p: float, lr0: float, annealed: bool) -> float:
    """Learning rate at progress p: the paper's annealing when ``annealed``, else ``lr0``."""
    return annealed_lr(p, lr0) if annealed else lr0


def parse_lambda(value) -> str | float:
    """A λ setting: the word ``schedule`` or a finite number ≥ 0 (also as text); one-line ValueError otherwise."""
    if isinstance(value, str) and value.strip().lower() == "schedule":
        return "schedule"
    try:
        if isinstance(value, bool):
            raise ValueError
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"bad λ {value!r}: use 'schedule' (the paper's ramp) or a number ≥ 0") from None
    if not (math.isfinite(number) and number >= 0):
        raise ValueError(f"bad λ {value!r}: use 'schedule' (the paper's ramp) or a finite number ≥ 0")
    return number
