"""``dann eval select``: every selector's choice among a finished run's checkpoints, with its regret and
the label-free estimate of the chosen checkpoint's target accuracy."""
from __future__ import annotations

import hashlib
import json
from typing import Any, Callable

from dann_core.selection import ViewUnavailable, choose, estimate_target_accuracy

REPORT_NOTE = ("target accuracy and regret are reported only: no selector reads a target label; regret = the best "
               "target accuracy among all evaluated steps minus that of the chosen step; the estimate is made without "
               "target labels (ATC); collapsed evaluations are never chosen")

CACHE_FILE = "select-cache.json"
"""Scores kept in the run directory by ``dann eval select``: each keyed by selector, options and the
scored files' names, sizes and modification times (a changed file is scored again). A per-candidate
score is one entry per file; a set-level selector's scores are one entry for the whole set."""


def select_report(run_dir, registry=None, device: str = "cpu", options: dict[str, dict] | None = None,
                  skip=(), progress=None, cache: bool = True) -> dict[str, Any]:
    """Every selector's choice among a finished run's healthy (not collapsed) checkpoints, with its
    (reported-only) regret and the label-free estimate of the chosen step's target accuracy.

    A per-evaluation selector whose scores metrics.jsonl holds for every evaluation chooses among all
    evaluated steps; so does one that reads only the logits the run stored per evaluation
    (``RUN_DIR/views``: source-val, entropy, snd, mixval, iw, bnm, ensv — set-level: it scores every
    step at once); any other selector scores the kept candidates (``RUN_DIR/candidates``).
    ``options`` maps selector names to options (default: the run's select_options for its own selector).
    ``skip``: selector names left out (reverse-val trains a model per candidate). ``progress``
    receives one line per candidate scored. ``cache``: read and write ``RUN_DIR/select-cache.json``.
    """
    from pathlib import Path

    from dann_core.plugins import get_registry
    from dann_core.train import read_run_config
    from dann_core.train.stored import StoredRun

    run_dir = Path(run_dir)
    registry = registry if registry is not None else get_registry()
    unknown = sorted(set(skip) - set(registry.selectors))
    if unknown:
        raise ValueError(f"--skip {unknown[0]}: no such selector; choose from {', '.join(registry.selectors)}")
    config, _ = read_run_config(run_dir, registry)  # one line when RUN_DIR is not a run
    stored = StoredRun(run_dir, device, registry)
    if not stored.records:
        raise ValueError(f"{run_dir / 'metrics.jsonl'} holds no evaluation; train the run first")
    known = [r.get("target_test_acc") for r in stored.records if r.get("target_test_acc") is not None]
    hindsight = max(known) if known else None
    scores = RunScores(stored, cache, progress)
    collapsed = len(stored.records) - len(stored.healthy_steps)
    rows = []
    for name in registry.selectors:
        if name in skip:
            continue
        chosen_options = (options or {}).get(name, config.select_options if name == config.select else {})
        selector = registry.build("selector", name, chosen_options)
        pool, scored_on = scores.of(name, selector, chosen_options)
        step = choose(pool, selector)
        acc = stored.target_accuracy(step) if step is not None else None
        rows.append({
            "selector": name,
            "step": step,
            "score": dict(pool).get(step),
            "target_acc_estimate": scores.estimate(step),
            "target_test_acc_reported_only": acc,
            "regret_reported_only": None if acc is None or hindsight is None else round(hindsight - acc, 6),
            "scored_on": scored_on + (f" ({collapsed} collapsed left out)" if collapsed else ""),
            "run_selector": name == config.select,
        })
    scores.save()
    return {"run_dir": str(run_dir), "best_target_test_acc_in_hindsight": hindsight, "rows": rows, "note": REPORT_NOTE}


class RunScores:
    """Scores of one run's healthy candidates by any selector, the cheapest way the run allows (its
    logged scores, its stored views, its kept candidates), through the run's score cache."""

    def __init__(self, stored, cache: bool = True, progress: Callable[[str], None] | None = None) -> None:
        self.stored, self.use_cache, self.progress = stored, cache, progress
        self.cache_path = stored.run_dir / CACHE_FILE
        self.cached = _read_cache(self.cache_path) if cache else {}
        self.dirty = False

    PRUNED_RETRIES = 5

    def of(self, name: str, selector, options: dict) -> tuple[list[tuple[int, float | None]], str]:
        """``([(step, score), ...], scored on)`` over the run's healthy steps.

        A run still training prunes candidates it no longer keeps: one that vanished while it was read
        is left out, and the kept candidates are listed again (what was scored stays in the cache)."""
        for attempt in range(self.PRUNED_RETRIES):
            listed = self.stored.kept_paths
            try:
                return self._of(name, selector, options, listed)
            except (FileNotFoundError, ValueError):  # ValueError: "no such kept candidate"
                if attempt == self.PRUNED_RETRIES - 1 or all(path.exists() for path in listed.values()):
                    raise
        raise AssertionError("unreachable")

    def _of(self, name: str, selector, options: dict, paths: dict) -> tuple[list[tuple[int, float | None]], str]:
        stored = self.stored
        healthy = stored.healthy_steps
        records = [stored.record(step) for step in healthy]
        if selector.per_eval and not selector.set_level and records and all(name in (r.get("selectors") or {}) for r in records):
            return [(r["step"], r["selectors"][name]) for r in records], "every evaluation"
        if (selector.per_eval or selector.set_level) and stored.has_views():  # not reverse-val: a model per step
            pool = self._scored(name, selector, options, "views", [stored.view_paths[s] for s in healthy], stored.view_candidates)
            if pool is not None:
                return pool, "every evaluation (stored views)"
        kept = [step for step in sorted(paths) if step in set(healthy)]  # listed once: a training run may prune one meanwhile
        pool = self._scored(name, selector, options, "kept", [paths[s] for s in kept], stored.kept_candidates, kept)
        return pool or [], f"{len(kept)} kept candidates"

    def _scored(self, name, selector, options, source: str, paths: list, build, steps=None) -> list | None:
        """Scores of the candidates stored in ``paths`` (None when the views do not hold what the
        selector reads); cached per file, or per set for a set-level selector."""
        keys = [_cache_key(name, options, path) + ("" if source == "kept" else " views") for path in paths]
        if selector.set_level:
            key = f"{name} {json.dumps(options, sort_keys=True, default=str)} set:{source} " + hashlib.sha1("\n".join(keys).encode()).hexdigest()
            if key not in self.cached:
                candidates = build(steps) if steps is not None else build()
                if self.progress is not None:
                    self.progress(f"{name}: scoring {len(candidates)} candidates as one set ({source})")
                try:
                    values = selector.score_all(candidates)
                except ViewUnavailable:
                    return None
                self._put(key, [[c.step, _number(v)] for c, v in zip(candidates, values)])
            return [tuple(pair) for pair in self.cached[key]]
        missing = [i for i, key in enumerate(keys) if key not in self.cached]
        if missing:
            all_steps = steps if steps is not None else self.stored.healthy_steps
            make = (lambda s: self.stored.view_candidate(s)) if source == "views" else self.stored.kept_candidate
            for number, i in enumerate(missing, start=1):
                if self.progress is not None and source == "kept":
                    self.progress(f"{name}: scoring candidate {number} of {len(missing)} ({paths[i].name})")
                try:
                    self._put(keys[i], _score_kept(selector, make(all_steps[i])), save=source == "kept")
                except ViewUnavailable:
                    return None
        return [tuple(self.cached[key]) for key in keys]

    def _put(self, key: str, value, save: bool = False) -> None:
        self.cached[key] = value
        self.dirty = True
        if save:
            self.save()  # after each kept candidate: an interrupted report keeps its work

    def save(self) -> None:
        from dann_core import files

        if self.use_cache and self.dirty:
            files.write_json(self.cached, self.cache_path)
            self.dirty = False

    def estimate(self, step: int | None) -> float | None:
        """The label-free estimate of ``step``'s target accuracy: logged at its evaluation, or made from
        its stored views (older runs)."""
        if step is None:
            return None
        logged = self.stored.record(step).get("target_acc_estimate")
        if logged is not None or step not in self.stored.view_paths:
            return logged
        try:
            return estimate_target_accuracy(self.stored.view_candidate(step))
        except ViewUnavailable:
            return None


def candidate_score(run_dir, step: int, name: str, registry=None, device: str = "cpu", options: dict | None = None,
                    cache: bool = True) -> float | None:
    """One selector's score of the kept candidate of ``step`` of a finished run (e.g. reverse-val of the
    final checkpoint, to compare configurations), read from and written to the same cache as
    :func:`select_report`."""
    from pathlib import Path

    from dann_core.plugins import get_registry
    from dann_core.train.stored import StoredRun

    stored = StoredRun(Path(run_dir), device, registry if registry is not None else get_registry())
    path = stored.kept_paths.get(step)
    if path is None:
        stored.kept_candidate(step)  # raises: no such kept candidate
    options = options or {}
    scores = RunScores(stored, cache)
    key = _cache_key(name, options, path)
    if key not in scores.cached:
        scores._put(key, _score_kept(stored.registry.build("selector", name, options), stored.kept_candidate(step)), save=True)
    scores.save()
    return scores.cached[key][1]


def _cache_key(name: str, options: dict, path) -> str:
    stat = path.stat()
    return f"{name} {json.dumps(options, sort_keys=True, default=str)} {path.name} {stat.st_size} {stat.st_mtime_ns}"


def _score_kept(selector, candidate) -> list:
    """[step, score] of one candidate scored on its own."""
    return [int(candidate.step), _number(selector.score(candidate))]


def _number(value) -> float | None:
    return None if value is None else float(value)


def _read_cache(path) -> dict[str, Any]:
    """The score cache, or an empty one when it is missing or not what :func:`select_report` writes."""
    from dann_core import files

    try:
        cached = files.read_json(path)
    except (OSError, ValueError):
        return {}
    if not isinstance(cached, dict):
        return {}

    def pair(value) -> bool:
        return isinstance(value, list) and len(value) == 2 and isinstance(value[0], int) and (value[1] is None or isinstance(value[1], (int, float)))

    return {key: value for key, value in cached.items()
            if pair(value) or (isinstance(value, list) and value and all(pair(v) for v in value))}
