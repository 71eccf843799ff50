"""Choosing among finished runs without target labels: a setting per method, then a method.

Two stages, as the selection benchmark measures them (benchmarks/selection_table.py): each run
contributes the checkpoint the selector chooses among its healthy evaluated steps (scored from its
logged scores, stored views or kept checkpoints, through its select cache); then a per-candidate
selector compares those checkpoints' scores, and a set-level one (EnsV) scores them as one set — runs
on the same data only (same dataset, options and seed: their stored views hold the same rows). A run
that ended collapsed, or trains on target labels (target-oracle), is never chosen. Source-only is
always among the candidates of a method choice: when it is chosen the result says "estimated to hurt:
source-only kept", otherwise "adaptation estimated +X over source-only", X the difference of the two
label-free estimates of target accuracy (``target_acc_estimate``).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

SOURCE_ONLY = "source-only"
DEFAULT_CHOICE = "source-val"
"""The across-run selector of ``dann table --choose`` (a per-candidate selector whose scores compare
across runs; ``benchmarks.selection_table`` measures the alternatives)."""


class ChoiceError(ValueError):
    """A choice that cannot be made (an unknown selector, runs on different data for a set-level one)."""


def across_selector(name: str, registry):
    """The selector ``name``; ChoiceError unless its scores compare across runs (``last`` does not)."""
    if name not in registry.selectors:
        raise ChoiceError(f"unknown selector '{name}'; choose from {', '.join(registry.selectors)}")
    selector = registry.build("selector", name, {})
    if not selector.across_runs:
        choices = ", ".join(n for n in registry.selectors if getattr(registry.selectors[n].factory, "across_runs", True))
        raise ChoiceError(f"selector {name} ranks the checkpoints of one run and cannot compare runs; choose from {choices}")
    return selector


def candidate(run_dir: str | Path, name: str, selector, registry=None, options: dict | None = None,
              step: int | None = None) -> dict[str, Any]:
    """One run as a candidate: the step the selector chooses in it (or ``step``, e.g. best.pt's), its score,
    the label-free estimate and the reported-only target accuracy; ``excluded`` says why it cannot be chosen."""
    from dann_core import run_summary
    from dann_core.selection import choose
    from dann_core.train.stored import StoredRun

    from .report import RunScores

    run_dir = Path(run_dir)
    summary = run_summary.read(run_dir) or {}  # checked (a damaged one: as if the run had not finished)
    entry: dict[str, Any] = {"run_dir": str(run_dir), "method": summary.get("method"), "step": None, "score": None,
                             "target_acc_estimate": None, "target_test_acc_reported_only": None, "excluded": None}
    if summary.get("state") == "collapsed":
        entry["excluded"] = "collapsed"
        return entry
    stored = StoredRun(run_dir, registry=registry)
    if not stored.healthy_steps:
        entry["excluded"] = "no healthy evaluation"
        return entry
    scores = RunScores(stored)
    pool = dict(scores.of(name, selector, options or {})[0])
    scores.save()
    chosen = step if step is not None else choose(pool.items(), selector)
    entry.update(step=chosen, score=pool.get(chosen), target_acc_estimate=scores.estimate(chosen),
                 target_test_acc_reported_only=stored.target_accuracy(chosen) if chosen is not None else None)
    entry["_stored"] = stored
    return entry


def choose_among(entries: list[dict[str, Any]], selector) -> int | None:
    """Index of the chosen entry among those not excluded (ties: the first listed); None when none can
    be chosen. A set-level selector scores the entries' checkpoints as one set (``set_score``)."""
    from dann_core.selection import ViewUnavailable

    eligible = [i for i, e in enumerate(entries) if e["excluded"] is None and e["step"] is not None]
    if not eligible:
        return None
    if selector.set_level:
        _same_data([entries[i] for i in eligible])
        try:
            candidates = [entries[i]["_stored"].view_candidate(entries[i]["step"]) for i in eligible]
            values = selector.score_all(candidates)
        except ViewUnavailable:
            candidates = [entries[i]["_stored"].kept_candidate(entries[i]["step"]) for i in eligible]
            values = selector.score_all(candidates)
        for i, value in zip(eligible, values):
            entries[i]["set_score"] = None if value is None else float(value)
    else:
        values = [entries[i]["score"] for i in eligible]
    best, chosen = None, None
    for i, value in zip(eligible, values):
        if value is None or value != value:  # None or NaN loses
            continue
        oriented = value if selector.higher_is_better else -value
        if best is None or oriented > best:
            best, chosen = oriented, i
    return chosen


def _same_data(entries: list[dict[str, Any]]) -> None:
    """ChoiceError unless the runs share their data (a set-level selector compares their stored views row by row)."""
    from dann_core.train import read_run_config

    seen = {}
    for entry in entries:
        cfg, _ = read_run_config(Path(entry["run_dir"]), entry["_stored"].registry)
        seen[(cfg.dataset, repr(sorted(cfg.dataset_options.items())), cfg.seed)] = entry["run_dir"]
    if len(seen) > 1:
        first, second = list(seen.values())[:2]
        raise ChoiceError(f"a set-level selector compares runs on the same data; {first} and {second} differ in dataset, its options or seed")


def public(entry: dict[str, Any]) -> dict[str, Any]:
    """An entry without its reader (what JSON files and the printed summary show)."""
    return {k: v for k, v in entry.items() if not k.startswith("_")}


def adaptation_line(chosen: dict[str, Any], source_only: dict[str, Any] | None) -> tuple[str, float | None]:
    """The sentence a choice ends with, and the estimated gain over source-only (None without one)."""
    if source_only is None or source_only.get("target_acc_estimate") is None:
        return "no source-only run to compare with (add source-only to the candidates)", None
    if chosen is source_only:
        return "estimated to hurt: source-only kept", 0.0
    gain = None if chosen.get("target_acc_estimate") is None else round(chosen["target_acc_estimate"] - source_only["target_acc_estimate"], 4)
    if gain is None:
        return "adaptation chosen; no estimate of its target accuracy", None
    return f"adaptation estimated {gain:+.3f} over source-only", gain
def table_entries(out: str | Path, seeds, methods) -> list[dict[str, Any]]:
    """The finished runs of a table's jobs under ``out`` for these seeds and methods: label, seed, run_dir."""
    from dann_core import run_summary

    from .jobs import RUN_DIR, JobFileError, list_jobs, read_job

    wanted, found = {(str(m), int(s)) for m in methods for s in seeds}, []
    for job_dir in list_jobs(out):
        try:
            record = read_job(job_dir)
        except JobFileError:
            continue
        label = record.get("label", {})
        key = (str(label.get("method")), int(label.get("seed", -1)))
        if key in wanted and run_summary.read(job_dir / RUN_DIR) is not None:
            found.append({"label": key[0], "seed": key[1], "run_dir": job_dir / RUN_DIR})
    return found


def uses_target_labels(registry, method: str) -> bool:
    """Whether ``method`` (a method plugin) declares it needs labelled target batches."""
    from dann_core.methods import TARGET_LABELLED

    return TARGET_LABELLED in getattr(registry.get("method", method).factory, "needs", ())


def choose_in_table(runs: list[dict[str, Any]], name: str, registry) -> dict[str, Any]:
    """For each seed: a setting per method (labels sharing a method name) and a method among every label,
    source-only included, by selector ``name``; the chosen results and their estimated gain over source-only."""
    selector = across_selector(name, registry)
    seeds: dict[int, list[dict[str, Any]]] = {}
    for run in runs:
        entry = {"label": run["label"], **candidate(run["run_dir"], name, selector, registry)}
        if entry["excluded"] is None and uses_target_labels(registry, run["label"].split("[", 1)[0]):
            entry["excluded"] = "trains on target labels"
        seeds.setdefault(run["seed"], []).append(entry)
    per_seed = []
    for seed, entries in sorted(seeds.items()):
        settings = {}
        for method in dict.fromkeys(e["label"].split("[", 1)[0] for e in entries):
            group = [e for e in entries if e["label"].split("[", 1)[0] == method]
            index = choose_among(group, selector) if len(group) > 1 else None
            if index is not None:
                settings[method] = group[index]["label"]
        index = choose_among(entries, selector)
        source_only = next((e for e in entries if e["label"] == SOURCE_ONLY and e["excluded"] is None), None)
        chosen = entries[index] if index is not None else None
        line, gain = adaptation_line(chosen, source_only) if chosen is not None else ("nothing could be chosen", None)
        per_seed.append({"seed": seed, "settings": settings, "chosen": public(chosen) if chosen else None,
                         "source_only": public(source_only) if source_only else None, "adaptation": line, "estimated_gain": gain})
    return {"selector": name, "seeds": per_seed, "summary": _summary_line(per_seed, name),
            "note": "chosen without target labels; target accuracy reported only; a collapsed run is never chosen"}


def _summary_line(per_seed: list[dict[str, Any]], name: str) -> str:
    import statistics

    chosen = [s["chosen"] for s in per_seed if s["chosen"]]
    if not chosen:
        return f"{name}: nothing could be chosen"
    labels = ", ".join(f"seed {s['seed']}: {s['chosen']['label']}" for s in per_seed if s["chosen"])
    accs = [c["target_test_acc_reported_only"] for c in chosen if c["target_test_acc_reported_only"] is not None]
    gains = [s["estimated_gain"] for s in per_seed if s["estimated_gain"] is not None]
    kept = sum(s["chosen"] is not None and s["chosen"]["label"] == SOURCE_ONLY for s in per_seed)
    adapted = [g for s, g in zip(per_seed, [s["estimated_gain"] for s in per_seed]) if g is not None and s["chosen"]["label"] != SOURCE_ONLY]
    if kept == len(per_seed):
        verdict = "estimated to hurt: source-only kept"
    elif kept:
        verdict = f"estimated to hurt in {kept} of {len(per_seed)} seeds (source-only kept there)" + (
            f"; elsewhere adaptation estimated {statistics.fmean(adapted):+.3f} over source-only" if adapted else "")
    else:
        verdict = f"adaptation estimated {statistics.fmean(gains):+.3f} over source-only" if gains else "no source-only run to compare with"
    mean = f"target acc {statistics.fmean(accs):.4f} (reported only)" if accs else "target acc n/a"
    return f"chosen by {name} ({labels}): {mean}; {verdict}"


def set_scores(rows: list[dict[str, Any]], select: str, selector, registry, job_root: str | Path) -> None:
    """A sweep by a set-level selector: each finished row's chosen checkpoint (its best.pt step) is
    scored against the others' as one set; the row's ``score`` becomes that score (collapsed and
    failed rows keep none)."""
    from dann_core import run_summary

    from .jobs import RUN_DIR

    ok = [row for row in rows if row.get("status") == "ok"]
    entries = []
    for row in ok:
        run_dir = Path(job_root) / "jobs" / row["id"] / RUN_DIR
        step = (run_summary.read(run_dir) or {}).get("best_step")
        entries.append(candidate(run_dir, select, selector, registry, step=step))
    choose_among(entries, selector)
    for row, entry in zip(ok, entries):
        row["score"] = None if entry.get("set_score") is None else round(entry["set_score"], 6)


def sweep_adaptation(rows: list[dict[str, Any]], best: dict[str, Any] | None, job_root: str | Path) -> dict[str, Any] | None:
    """For a sweep whose grid has a source-only row: the estimated gain of the selected row over it."""
    from dann_core import run_summary

    from .jobs import RUN_DIR

    source_only = next((row for row in rows if row.get("method") == SOURCE_ONLY and row.get("status") == "ok"), None)
    if best is None or source_only is None:
        return None

    def entry(row):
        summary = run_summary.read(Path(job_root) / "jobs" / row["id"] / RUN_DIR) or {}
        return {"id": row["id"], "target_acc_estimate": summary.get("target_acc_estimate")}

    chosen, baseline = entry(best), entry(source_only)
    line, gain = adaptation_line(baseline if best is source_only else chosen, baseline)
    return {"line": line, "estimated_gain": gain, "source_only": source_only["id"],
            "estimates": {"selected": chosen["target_acc_estimate"], "source_only": baseline["target_acc_estimate"]}}
