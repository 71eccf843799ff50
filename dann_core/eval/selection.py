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


REPORT_NOTE = ("target accuracy and regret are reported only: no selector reads a target label; regret = the best "
               "target accuracy among all evaluated steps minus that of the chosen step")


def select_report(run_dir, registry=None, device: str = "cpu", options: dict[str, dict] | None = None) -> dict[str, Any]:
    """Every selector's choice among a finished run's checkpoints, with its (reported-only) regret.

    A per-evaluation selector whose scores metrics.jsonl holds for every evaluation chooses among all
    evaluated steps; any other selector scores the kept candidates (``RUN_DIR/candidates``).
    ``options`` maps selector names to options (default: the run's select_options for its own selector).
    """
    from pathlib import Path

    from .. import checkpoint as ckpt
    from ..metrics import MetricsLog
    from ..train import load_run
    from ..train.candidates import CANDIDATE_DIR

    from ..plugins import get_registry

    run_dir = Path(run_dir)
    registry = registry if registry is not None else get_registry()
    run = load_run(run_dir, "last", device=device, registry=registry)
    records = MetricsLog(run_dir / "metrics.jsonl").read()
    if not records:
        raise ValueError(f"{run_dir / 'metrics.jsonl'} holds no evaluation; train the run first")
    accuracy = {r["step"]: r.get("target_test_acc") for r in records}
    known = [a for a in accuracy.values() if a is not None]
    hindsight = max(known) if known else None
    candidates = sorted((run_dir / CANDIDATE_DIR).glob("step-*.pt"))
    data = SelectionData.of(run.data, run.config.seed)
    rows = []
    for name in registry.selectors:
        chosen_options = (options or {}).get(name, run.config.select_options if name == run.config.select else {})
        selector = registry.build("selector", name, chosen_options)
        logged = [(r["step"], (r.get("selectors") or {}).get(name)) for r in records]
        if selector.per_eval and all(name in (r.get("selectors") or {}) for r in records):
            pool, scored_on = logged, "every evaluation"
        else:
            pool, scored_on = [], f"{len(candidates)} kept candidates"
            for path in candidates:
                state = ckpt.load(path, map_location=device)
                run.algorithm.load_state_dict(state["algorithm"])
                score = selector.score(Candidate(int(state["step"]), run.algorithm, data, device, run.config, registry))
                pool.append((int(state["step"]), None if score is None else float(score)))
        step = choose(pool, selector)
        acc = accuracy.get(step)
        rows.append({
            "selector": name,
            "step": step,
            "score": dict(pool).get(step),
            "target_test_acc_reported_only": acc,
            "regret_reported_only": None if acc is None or hindsight is None else round(hindsight - acc, 6),
            "scored_on": scored_on,
            "run_selector": name == run.config.select,
        })
    return {"run_dir": str(run_dir), "best_target_test_acc_in_hindsight": hindsight, "rows": rows, "note": REPORT_NOTE}

