"""``dann eval select``: every selector's choice among a finished run's checkpoints, with its regret."""
from __future__ import annotations

from typing import Any

from dann_core.selection import Candidate, SelectionData, ViewUnavailable, choose

REPORT_NOTE = ("target accuracy and regret are reported only: no selector reads a target label; regret = the best "
               "target accuracy among all evaluated steps minus that of the chosen step")


CACHE_FILE = "select-cache.json"
"""Scores of the kept candidates by the selectors that are not per-evaluation, kept in the run
directory by ``dann eval select`` (each keyed by selector, options and the candidate file's size and
modification time, so a changed candidate is scored again)."""


def select_report(run_dir, registry=None, device: str = "cpu", options: dict[str, dict] | None = None,
                  skip=(), progress=None, cache: bool = True) -> dict[str, Any]:
    """Every selector's choice among a finished run's checkpoints, with its (reported-only) regret.

    A per-evaluation selector whose scores metrics.jsonl holds for every evaluation chooses among all
    evaluated steps; so does one that reads only the logits the run stored per evaluation
    (``RUN_DIR/views``: source-val, entropy, snd); any other selector scores the kept candidates
    (``RUN_DIR/candidates``).
    ``options`` maps selector names to options (default: the run's select_options for its own selector).
    ``skip``: selector names left out (reverse-val trains a model per candidate). ``progress``
    receives one line per candidate scored. ``cache``: read and write ``RUN_DIR/select-cache.json``.
    """
    from pathlib import Path

    from dann_core import files
    from dann_core.metrics import MetricsLog
    from dann_core.train import load_run
    from dann_core.train.candidates import CANDIDATE_DIR, candidate_files
    from dann_core.train.evaluation import VIEWS_DIR

    from dann_core.plugins import get_registry

    run_dir = Path(run_dir)
    registry = registry if registry is not None else get_registry()
    unknown = sorted(set(skip) - set(registry.selectors))
    if unknown:
        raise ValueError(f"--skip {unknown[0]}: no such selector; choose from {', '.join(registry.selectors)}")
    run = load_run(run_dir, "last", device=device, registry=registry)
    records = MetricsLog(run_dir / "metrics.jsonl").read()
    if not records:
        raise ValueError(f"{run_dir / 'metrics.jsonl'} holds no evaluation; train the run first")
    accuracy = {r["step"]: r.get("target_test_acc") for r in records}
    known = [a for a in accuracy.values() if a is not None]
    hindsight = max(known) if known else None
    candidates = candidate_files(run_dir / CANDIDATE_DIR) if (run_dir / CANDIDATE_DIR).is_dir() else []
    cache_path = run_dir / CACHE_FILE
    cached = _read_cache(cache_path) if cache else {}
    data = SelectionData.of(run.data, run.config.seed)
    views = {int(p.stem.split("-")[1]): p for p in candidate_files(run_dir / VIEWS_DIR)} if (run_dir / VIEWS_DIR).is_dir() else {}
    steps = [r["step"] for r in records]
    rows = []
    for name in registry.selectors:
        if name in skip:
            continue
        chosen_options = (options or {}).get(name, run.config.select_options if name == run.config.select else {})
        selector = registry.build("selector", name, chosen_options)
        logged = [(r["step"], (r.get("selectors") or {}).get(name)) for r in records]
        pool = None
        if selector.per_eval and all(name in (r.get("selectors") or {}) for r in records):
            pool, scored_on = logged, "every evaluation"
        elif selector.per_eval and steps and all(step in views for step in steps):
            pool, scored_on = _score_views(selector, data, steps, views, run.config), "every evaluation (stored views)"
        if pool is None:
            pool, scored_on = [], f"{len(candidates)} kept candidates"
            for number, path in enumerate(candidates, start=1):
                key = _cache_key(name, chosen_options, path)
                if key not in cached:
                    if progress is not None:
                        progress(f"{name}: scoring candidate {number} of {len(candidates)} ({path.name})")
                    cached[key] = _score_kept(selector, path, run, data, device, registry)
                    if cache:
                        files.write_json(cached, cache_path)  # after each candidate: an interrupted report keeps its work
                pool.append(tuple(cached[key]))
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


def candidate_score(run_dir, step: int, name: str, registry=None, device: str = "cpu", options: dict | None = None,
                    cache: bool = True) -> float | None:
    """One selector's score of the kept candidate of ``step`` of a finished run (e.g. reverse-val of the
    final checkpoint, to compare configurations), read from and written to the same cache as
    :func:`select_report`."""
    from pathlib import Path

    from dann_core import files
    from dann_core.train import load_run
    from dann_core.train.candidates import CANDIDATE_DIR, candidate_name

    from dann_core.plugins import get_registry

    run_dir = Path(run_dir)
    path = run_dir / CANDIDATE_DIR / candidate_name(step)
    if not path.is_file():
        raise ValueError(f"{path}: no such kept candidate; the run keeps its last `keep_candidates` evaluated steps")
    registry = registry if registry is not None else get_registry()
    options = options or {}
    cached = _read_cache(run_dir / CACHE_FILE) if cache else {}
    key = _cache_key(name, options, path)
    if key not in cached:
        run = load_run(run_dir, "last", device=device, registry=registry)
        data = SelectionData.of(run.data, run.config.seed)
        cached[key] = _score_kept(registry.build("selector", name, options), path, run, data, device, registry)
        if cache:
            files.write_json(cached, run_dir / CACHE_FILE)
    return cached[key][1]


def _cache_key(name: str, options: dict, path) -> str:
    import json

    stat = path.stat()
    return f"{name} {json.dumps(options, sort_keys=True, default=str)} {path.name} {stat.st_size} {stat.st_mtime_ns}"


def _score_kept(selector, path, run, data, device, registry) -> list:
    """[step, score] of one kept candidate file, scored with ``run``'s algorithm holding its weights."""
    from dann_core import checkpoint as ckpt

    state = ckpt.load(path, map_location=device)
    run.algorithm.load_state_dict(state["algorithm"])
    score = selector.score(Candidate(int(state["step"]), run.algorithm, data, device, run.config, registry))
    return [int(state["step"]), None if score is None else float(score)]


def _score_views(selector, data: SelectionData, steps: list[int], views: dict, config) -> list | None:
    """The selector's score at every evaluated step from the stored logits, or None when it needs
    more than they hold (features, other rows)."""
    from dann_core import checkpoint as ckpt

    pool = []
    for step in steps:
        logits = ckpt.load(views[step])["logits"]
        try:
            score = selector.score(Candidate.from_views(step, data, {k: v.float() for k, v in logits.items()}, config))
        except ViewUnavailable:
            return None
        pool.append((step, None if score is None else float(score)))
    return pool


def _read_cache(path) -> dict[str, Any]:
    """The score cache, or an empty one when it is missing or not what :func:`select_report` writes."""
    from dann_core import files

    try:
        cached = files.read_json(path)
    except (OSError, ValueError):
        return {}
    if not isinstance(cached, dict):
        return {}
    return {key: value for key, value in cached.items()
            if isinstance(value, list) and len(value) == 2 and isinstance(value[0], int) and (value[1] is None or isinstance(value[1], (int, float)))}
