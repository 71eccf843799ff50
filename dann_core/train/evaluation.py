"""Evaluation during training: accuracies, selector scores, the candidate pool and best.pt.

Model selection never reads a target label (selectors see source data and target inputs only);
target test accuracy is reported and never used to choose anything.
"""
from __future__ import annotations

import copy
import time
from pathlib import Path
from typing import Any, Callable

import torch

from .. import checkpoint as ckpt
from ..config import RunConfig
from ..selection import Candidate, SelectionData, Selector, ViewUnavailable, choose, estimate_target_accuracy, view_inputs
from ..specs import DomainData
from . import health
from .domain_eval import PerDomainCandidate
from .candidates import CandidatePool
from .views import VIEWS_DIR, KeptCandidate, read_views, view_files, write_views  # noqa: F401 (VIEWS_DIR: its old home)

SELECTION = (
    "best = the checkpoint the selector chooses from source data and unlabelled target inputs (ties: later step); "
    "target_test_acc is reported only, never used to select"
)


ALWAYS_SCORED = "last"


def scored_names(cfg: RunConfig, registry) -> list[str]:
    """The selectors a run scores: its own (``--select``), ``last`` and those ``--score`` names
    (``all``: every per-evaluation selector). Unknown names are an error naming the choices."""
    registry.get("selector", cfg.select)
    wanted = [name.strip() for name in cfg.score.split(",") if name.strip()]
    if wanted == ["all"]:
        wanted = list(registry.selectors)
    for name in wanted:
        registry.get("selector", name)
    return list(dict.fromkeys([cfg.select, ALWAYS_SCORED, *wanted]))


def build_selectors(cfg: RunConfig, registry) -> dict[str, Selector]:
    """The scored selectors by name; of ``--score all`` only the per-evaluation ones (the others
    train models: ``dann eval select`` scores them on the kept candidates)."""
    selectors = {}
    for name in scored_names(cfg, registry):
        selector = registry.build("selector", name, cfg.select_options if name == cfg.select else {})
        if not isinstance(selector, Selector):
            raise TypeError(f"selector '{name}' built a {type(selector).__name__}, expected a dann_core.selection.Selector")
        if selector.per_eval or name == cfg.select:
            selectors[name] = selector
    return selectors


class Evaluation:
    """Scores the method at each evaluation, keeps the candidates and the best checkpoint so far.

    ``candidate_state()`` is what a candidate (and best.pt) holds; ``best_state`` keeps the best
    weights in memory for runs without a directory.
    """

    def __init__(self, cfg: RunConfig, registry, method, data: DomainData, device: torch.device,
                 run_dir: Path | None, candidate_state: Callable[[], dict[str, Any]]) -> None:
        self.config, self.registry, self.method, self.data, self.device = cfg, registry, method, data, device
        self.run_dir, self.candidate_state = run_dir, candidate_state
        self.selection_data = SelectionData.of(data, cfg.seed)
        self.pool = CandidatePool(build_selectors(cfg, registry), cfg.select, cfg.keep_candidates, run_dir)
        # a set-level selector chooses among every evaluated step when the run ends: keep them all until then
        self.pool.keep_all = self.pool.selectors[cfg.select].set_level
        self.views: dict[int, dict[str, torch.Tensor]] = {}  # step → view logits, for runs without a directory
        self.best: dict[str, Any] = {"step": None, "source_val_acc": None, "target_test_acc": None, "score": None, "target_acc_estimate": None}
        self.best_state: dict[str, Any] | None = None
        self.last: dict[str, Any] = {}
        self.chance = health.chance_level(data.source_val.y, data.num_classes)  # a constant prediction's source-val accuracy
        self.seconds = 0.0  # wall-clock spent evaluating (summary.json: eval_seconds)

    def candidate(self, step: int) -> Candidate:
        # per-domain batch norm (if any) evaluates source inputs with the source's statistics
        return PerDomainCandidate(step, self.method, self.selection_data, self.device, self.config, self.registry)

    def record(self, step: int, window: dict[str, float], schedule: dict[str, float]) -> dict[str, Any]:
        """Evaluate at ``step`` in one pass per input (the accuracies and every selector share the
        candidate's outputs); returns the metrics record (the caller logs it)."""
        started = time.perf_counter()
        candidate = self.candidate(step)
        scores = {"source_val_acc": split_accuracy(candidate, self.data.source_val),
                  "target_test_acc": split_accuracy(candidate, self.data.target_test)}
        selector_scores = self.pool.score(candidate)
        self._store_views(step, candidate)
        scores["target_acc_estimate"] = estimate_target_accuracy(candidate)  # from the views: no target label
        record = {"step": step, **window, **schedule, **scores, "selectors": selector_scores}
        self._judge_health(record, candidate)
        self.last = record
        self.seconds += time.perf_counter() - started
        return record

    def _judge_health(self, record: dict[str, Any], candidate: Candidate) -> None:
        """``top_class_share`` and ``collapsed`` (:mod:`.health`) into ``record``, from the source-val
        logits the accuracy already computed; a collapsed evaluation is never a candidate or best.pt."""
        source_val = self.data.source_val
        record["top_class_share"] = health.top_class_share(candidate.logits(source_val.x)) if len(source_val) else None
        verdict = health.assess(record, self.pool.history, self.chance, self.data.num_classes)
        record["collapsed"] = verdict.collapsed
        if verdict.collapsed:
            record["collapse"] = verdict.reason

    def _store_views(self, step: int, candidate: Candidate) -> None:
        """views/step-N.pt (:mod:`.stored`): the logits of every named view (source_val, target,
        target_mix), so that selectors reading only these score every evaluated step after the run, and
        a set-level ``--select`` at its end. The two target views cost a forward pass of 2 × 1,000 rows
        per evaluation beyond the accuracies' (docs/selection.md#stored-views)."""
        logits = {name: candidate.logits(x) for name, x in view_inputs(self.selection_data).items() if len(x) > 0}
        if self.run_dir is None:
            self.views[step] = logits
        else:
            write_views(self.run_dir, step, logits)

    def keep(self, step: int) -> None:
        """Offer the evaluated weights to the pool; write best.pt when the run's selector prefers them."""
        record = self.last
        scores = {k: record.get(k) for k in ("source_val_acc", "target_test_acc", "target_acc_estimate")}
        scores["collapsed"] = bool(record.get("collapsed", False))
        self.pool.add(step, record["selectors"], scores, self.candidate_state)
        name = self.config.select
        if name in self.pool.per_eval and self.pool.best_logged(name) == step:
            self._set_best(step, record["selectors"][name], self.candidate_state)

    def _set_best(self, step: int, score: float | None, state: Callable[[], dict[str, Any]]) -> None:
        entry = self.pool.entry(step)
        self.best = {"step": step, "source_val_acc": entry["source_val_acc"], "target_test_acc": entry["target_test_acc"], "score": score,
                     "target_acc_estimate": entry.get("target_acc_estimate")}
        if self.run_dir is None:
            self.best_state = copy.deepcopy(state()["method"])
        else:
            ckpt.atomic_save(state(), self.run_dir / "best.pt")

    def finish(self) -> None:
        """Selectors that are not per-evaluation score the kept candidates now; a selector that scored
        nothing leaves best.pt at the last step."""
        started = time.perf_counter()
        name, method = self.config.select, self.method
        if self.pool.selectors[name].set_level:
            self._finish_set(self.pool.selectors[name])
        elif name not in self.pool.per_eval:
            live = copy.deepcopy(method.state_dict())
            stored, scored = self.pool.stored(), {}
            for step, load in stored.items():
                method.load_state_dict(load()["method"])
                score = self.pool.selectors[name].score(self.candidate(step))
                scored[step] = None if score is None else float(score)
            method.load_state_dict(live)
            chosen = choose(scored.items(), self.pool.selectors[name])
            if chosen is not None:
                self._set_best(chosen, scored[chosen], stored[chosen])
        if self.best["step"] is None and self.pool.history:
            self._set_best_to_last_healthy()
        self.seconds += time.perf_counter() - started

    def _finish_set(self, selector: Selector) -> None:
        """A set-level selector scores every healthy evaluated step at once — from the stored views, or
        from the weights (all kept until now) when it needs more than logits — and best.pt becomes its
        choice; then the pool drops what it keeps only for this."""
        steps, stored = [h["step"] for h in self.pool.healthy()], self.pool.stored()
        views = self.views if self.run_dir is None else {s: read_views(p) for s, p in view_files(self.run_dir).items()}
        live = copy.deepcopy(self.method.state_dict())
        try:
            candidates = [Candidate.from_views(s, self.selection_data, views[s], self.config) for s in steps]
            scores = selector.score_all(candidates)
        except (ViewUnavailable, KeyError):
            holder: dict = {}
            candidates = [KeptCandidate(s, stored[s], self.method, self.selection_data, self.device, self.config, self.registry, holder)
                          for s in steps if s in stored]
            scores = selector.score_all(candidates)
        self.method.load_state_dict(live)
        scored = {c.step: None if v is None else float(v) for c, v in zip(candidates, scores)}
        chosen = choose([(s, v) for s, v in scored.items() if s in stored], selector)
        if chosen is not None:
            self._set_best(chosen, scored[chosen], stored[chosen])
        self.pool.keep_all = False
        self.pool.prune(self.pool.kept_steps() | {chosen})

    def _set_best_to_last_healthy(self) -> None:
        """best.pt when the selector scored nothing: the last evaluated step, or when the run ended
        collapsed the last healthy one (its weights are a kept candidate)."""
        step = self.pool.last_healthy()
        if step is None:
            return
        if step == self.pool.history[-1]["step"]:
            self._set_best(step, None, self.candidate_state)
            return
        stored = self.pool.stored()
        if step in stored:
            self._set_best(step, None, stored[step])

    def state_dict(self) -> dict[str, Any]:
        return {"best": dict(self.best), "selection": self.pool.state_dict(), "last_eval": dict(self.last), "eval_seconds": self.seconds}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best, self.last = dict(state["best"]), dict(state["last_eval"])
        self.seconds = float(state.get("eval_seconds", 0.0))
        self.pool.load_state_dict(state["selection"])


def split_accuracy(candidate: Candidate, split) -> float | None:
    """Fraction of ``split`` the candidate classifies right (None without labels), from its cached logits."""
    if split.y is None or len(split) == 0:
        return None
    return int((candidate.logits(split.x).argmax(dim=1) == split.y).sum()) / len(split)
