"""``dann eval select``: every selector's choice among a finished run's checkpoints, with its regret."""
from __future__ import annotations

from typing import Any

from dann_core.selection import Candidate, SelectionData, ViewUnavailable, choose

REPORT_NOTE = ("target accuracy and regret are reported only: no selector reads a target label; regret = the best "
               "target accuracy among all evaluated steps minus that of the chosen step")


def select_report(run_dir, registry=None, device: str = "cpu", options: dict[str, dict] | None = None) -> dict[str, Any]:
    """Every selector's choice among a finished run's checkpoints, with its (reported-only) regret.

    A per-evaluation selector whose scores metrics.jsonl holds for every evaluation chooses among all
    evaluated steps; so does one that reads only the logits the run stored per evaluation
    (``RUN_DIR/views``: source-val, entropy, snd); any other selector scores the kept candidates
    (``RUN_DIR/candidates``).
    ``options`` maps selector names to options (default: the run's select_options for its own selector).
    """
    from pathlib import Path

    from dann_core import checkpoint as ckpt
    from dann_core.metrics import MetricsLog
    from dann_core.train import load_run
    from dann_core.train.candidates import CANDIDATE_DIR
    from dann_core.train.evaluation import VIEWS_DIR

    from dann_core.plugins import get_registry

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
    views = {int(p.stem.split("-")[1]): p for p in (run_dir / VIEWS_DIR).glob("step-*.pt")}
    steps = [r["step"] for r in records]
    rows = []
    for name in registry.selectors:
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
