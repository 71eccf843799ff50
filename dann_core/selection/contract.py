"""Model selection without target labels: the selector interface and the rules every selector shares.

A selector (hook ``register_selectors``) scores a candidate checkpoint of one run from source data
and *unlabelled* target inputs only: :class:`SelectionData` carries no target label, so a selector
cannot read one. Per-evaluation selectors (``per_eval = True``) are scored at every evaluation and
their scores logged in metrics.jsonl; the others (reverse validation: it trains a model) score the
stored candidates once, when the run ends or in ``dann eval select``. Ties go to the later step.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

import torch

from ..rows import batches, take
from ..specs import Split

EVAL_BATCH = 1024


@dataclass(frozen=True)
class SelectionData:
    """What a selector may look at: labelled source splits and target inputs without labels."""

    source_train: Split
    source_val: Split
    target_x: torch.Tensor  # or a dann_core.rows.LazyRows
    num_classes: int
    seed: int = 0

    @classmethod
    def of(cls, data, seed: int = 0) -> "SelectionData":
        """The label-free view of a :class:`~dann_core.specs.DomainData` (target labels dropped)."""
        return cls(data.source_train, data.source_val, data.target_train.x, data.num_classes, seed)

    def subsample(self, x: torch.Tensor, n: int, salt: int = 0) -> torch.Tensor:
        """At most ``n`` rows of ``x``, the same ones at every evaluation of a run (seeded; rows read
        on demand stay unread until a candidate's ``features``/``logits`` reads them)."""
        if len(x) <= n:
            return x
        generator = torch.Generator().manual_seed(self.seed * 7919 + salt)
        return take(x, torch.randperm(len(x), generator=generator)[:n])


@dataclass
class Candidate:
    """One checkpoint of a run, as a selector sees it: the algorithm in eval mode and the data."""

    step: int
    algorithm: Any
    data: SelectionData
    device: torch.device | str = "cpu"
    config: Any = None
    registry: Any = None

    @torch.no_grad()
    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Backbone features of ``x`` (eval mode, batched), on the CPU."""
        return self._batched(x, lambda batch: self.algorithm.model.backbone(batch))

    @torch.no_grad()
    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits of ``x`` (eval mode, batched), on the CPU."""
        return self._batched(x, lambda batch: self.algorithm.model(batch))

    def _batched(self, x: torch.Tensor, fn) -> torch.Tensor:
        model = self.algorithm.model
        was_training = model.training
        model.eval()
        try:
            return torch.cat([fn(batch).float().cpu() for batch in batches(x, EVAL_BATCH, self.device)])
        finally:
            model.train(was_training)


class Selector:
    """Base of selectors: ``score(candidate) -> float | None`` (None: cannot score this run).

    ``higher_is_better`` orders scores; ``per_eval`` says the score is cheap enough for every
    evaluation; ``across_runs`` says scores of different runs are comparable (``dann sweep``).
    """

    higher_is_better = True
    per_eval = True
    across_runs = True

    def score(self, candidate: Candidate) -> float | None:
        raise NotImplementedError(f"{type(self).__name__} must implement score(candidate)")


def better(selector: Selector, a: float | None, b: float | None) -> bool:
    """Whether score ``a`` is at least as good as ``b`` (ties prefer ``a``, the later step; None loses)."""
    if a is None:
        return b is None
    if b is None:
        return True
    return a >= b if selector.higher_is_better else a <= b


def choose(scored: Iterable[tuple[int, float | None]], selector: Selector) -> int | None:
    """The step whose score is best, scanning in step order so that ties go to the later step."""
    best_step, best_score = None, None
    for step, score in sorted(scored, key=lambda item: item[0]):
        if score is None:
            continue
        if best_step is None or better(selector, score, best_score):
            best_step, best_score = step, score
    return best_step


def top_steps(history: list[dict[str, Any]], name: str, selector: Selector, k: int) -> set[int]:
    """Steps of the ``k`` best logged scores of selector ``name`` (later steps first among ties)."""
    scored = [(h["step"], h["scores"].get(name)) for h in history if h["scores"].get(name) is not None]
    sign = 1.0 if selector.higher_is_better else -1.0
    ranked = sorted(scored, key=lambda item: (sign * item[1], item[0]), reverse=True)
    return {step for step, _ in ranked[:k]}
