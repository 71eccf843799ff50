"""Model selection without target labels, measured: every selector's choices on a pool of finished runs.

    python -m benchmarks.selection_table [--runs runs/pool] [--only moons,digits-blend,digits-blend-hard]
        [--methods LABEL,...] [--selectors NAME,...] [--skip reverse-val] [--reverse-steps 200]

Reads the run directories RUNS/<task>/<label>-s<seed> (``benchmarks.selection_pool`` writes them with
every evaluated checkpoint kept; ``benchmarks.accuracy_table``'s have the same shape) and scores every
selector on every healthy (not collapsed) evaluated step of every run — from the scores logged during
training, the stored views, or the kept checkpoints, through each run's select-cache.json: nothing is
retrained, and a second call reuses the scores. Per task and selector, at three levels:

- ``within run``: the selector chooses a step of each run;
- ``setting``: for each method (a label's name before ``[``) with several settings and each seed, the
  selector chooses a setting: each run contributes its within-run choice, then a per-candidate selector
  compares their scores and a set-level one scores them as one set (how ``dann sweep`` chooses);
- ``method``: the same among every run of a seed (every method and setting; source-only included).

Reported (target accuracy is reported only — no selector reads a target label): the mean target
accuracy of the choices; the mean regret to the oracle (the best target accuracy among the evaluated
steps of the candidates); the weighted Spearman correlation of Musgrave et al. (2022) between scores
and target accuracy (within run: per run, averaged; across runs: over every checkpoint of the group,
set-level selectors scoring the group as one set); the share of choices more than 5 points below
source-only (the source-only run of the same seed at its source-val checkpoint), and of those the
share that was avoidable (the oracle of the candidates was within 5 points of source-only: where even
it is further below, no selector at that level could do better); and the worst choice relative to
source-only. Writes PREFIX.md and PREFIX.csv.
"""
from __future__ import annotations

import argparse
import csv
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
LEVELS = ("within run", "setting", "method")
BELOW = 0.05


@dataclass
class Run:
    task: str
    label: str
    seed: int
    stored: object
    accuracy: dict = field(default_factory=dict)  # step → target accuracy (reported only)
    scores: dict = field(default_factory=dict)    # selector → {step: score}

    @property
    def method(self) -> str:
        return self.label.split("[", 1)[0]

    def oracle(self) -> float:
        return max(self.accuracy[s] for s in self.stored.healthy_steps)


def discover(runs: Path, task: str, methods: list[str] | None) -> list[tuple[str, int, Path]]:
    found = []
    for directory in sorted((runs / task).glob("*-s*")):
        label, _, seed = directory.name.rpartition("-s")
        if seed.isdigit() and (directory / "summary.json").exists() and (not methods or label in methods):
            found.append((label, int(seed), directory))
    return found


def score_runs(found, task, selectors, options, registry, progress) -> list[Run]:
    from dann_core.train.stored import StoredRun
    from dann_evaluation.report import RunScores

    runs = []
    for label, seed, directory in found:
        stored = StoredRun(directory, registry=registry)
        run = Run(task, label, seed, stored, {r["step"]: r.get("target_test_acc") for r in stored.records})
        scores = RunScores(stored, cache=True, progress=progress)
        for name, selector in selectors.items():
            pool, _ = scores.of(name, selector, options.get(name, {}))
            run.scores[name] = dict(pool)
        scores.save()
        runs.append(run)
        print(f"{directory}: scored by {len(selectors)} selectors", file=sys.stderr, flush=True)
    return runs


def within(run: Run, name: str, selector) -> tuple[int | None, float | None]:
    from dann_core.selection import choose

    step = choose(run.scores[name].items(), selector)
    return step, run.scores[name].get(step)


def source_only_reference(runs: list[Run], source_val) -> dict[int, float]:
    """seed → target accuracy of the source-only run at its source-val checkpoint."""
    reference = {}
    for run in runs:
        if run.label == "source-only":
            step, _ = within(run, "source-val", source_val)
            if step is not None:
                reference[run.seed] = run.accuracy[step]
    return reference


def measure(runs: list[Run], selectors: dict, source_val) -> list[dict]:
    from .selection_metrics import choose_run, mean, oriented, weighted_spearman

    reference = source_only_reference(runs, source_val)
    runs = [run for run in runs if run.stored.healthy_steps]  # a run collapsed from its start offers no candidate
    rows = []
    for name, selector in selectors.items():
        picks = {level: [] for level in LEVELS}  # (chosen acc, oracle, seed)
        correlations = {level: [] for level in LEVELS}
        for run in runs:
            step, _ = within(run, name, selector)
            if step is not None:
                picks["within run"].append((run.accuracy[step], run.oracle(), run.seed))
            steps = run.stored.healthy_steps
            correlations["within run"].append(weighted_spearman([oriented(selector, run.scores[name].get(s)) for s in steps],
                                                                [run.accuracy[s] for s in steps]))
        if selector.across_runs:
            for level, groups in (("setting", _groups(runs, by_method=True)), ("method", _groups(runs, by_method=False))):
                for group in groups:
                    chosen = [within(run, name, selector) for run in group]
                    candidates = [run.stored.view_candidate(step) for run, (step, _) in zip(group, chosen) if step is not None] \
                        if selector.set_level else None
                    index = choose_run(selector, chosen, candidates)
                    if index is not None:
                        run, step = group[index], chosen[index][0]
                        picks[level].append((run.accuracy[step], max(r.oracle() for r in group), run.seed))
                    correlations[level].append(_pooled_correlation(group, name, selector))
        for level in LEVELS:
            found = picks[level]
            if not found:
                continue
            gaps, avoidable = versus_source_only(found, reference)
            rows.append({
                "task": runs[0].task, "level": level, "selector": name, "n_choices": len(found),
                "target_acc_mean": mean(acc for acc, _, _ in found),
                "regret_mean": mean(oracle - acc for acc, oracle, _ in found),
                "regret_worst": round(max(oracle - acc for acc, oracle, _ in found), 4),
                "weighted_spearman": mean(correlations[level]),
                "share_5pt_below_source_only": round(sum(g < -BELOW for g in gaps) / len(gaps), 4) if gaps else None,
                "worst_vs_source_only": round(min(gaps), 4) if gaps else None,
                "share_avoidably_5pt_below": round(sum(avoidable) / len(avoidable), 4) if avoidable else None,
            })
    return rows


def versus_source_only(found: list[tuple[float, float, int]], reference: dict[int, float]) -> tuple[list[float], list[bool]]:
    """For choices (target acc, oracle of the candidates, seed): each one's gap to the same seed's
    source-only result, and whether it was avoidably more than 5 points below it (the candidates held
    one within 5 points; where even the oracle is further below, no selector could have avoided it)."""
    kept = [(acc - reference[seed], oracle - reference[seed]) for acc, oracle, seed in found if seed in reference]
    return [gap for gap, _ in kept], [gap < -BELOW <= best for gap, best in kept]


def _groups(runs: list[Run], by_method: bool) -> list[list[Run]]:
    groups: dict[tuple, list[Run]] = {}
    for run in runs:
        groups.setdefault((run.seed, run.method if by_method else ""), []).append(run)
    return [group for group in groups.values() if len(group) > 1]


def _pooled_correlation(group: list[Run], name: str, selector) -> float:
    """Weighted Spearman over every healthy checkpoint of the group's runs (a set-level selector scores
    them as one set, from the stored views)."""
    from dann_core.selection import ViewUnavailable

    from .selection_metrics import oriented, weighted_spearman

    points = [(run, step) for run in group for step in run.stored.healthy_steps]
    if selector.set_level:
        try:
            scores = selector.score_all([run.stored.view_candidate(step) for run, step in points])
        except ViewUnavailable:  # a set-level selector that needs features: no pooled correlation
            return float("nan")
    else:
        scores = [run.scores[name].get(step) for run, step in points]
    return weighted_spearman([oriented(selector, s) for s in scores], [run.accuracy[step] for run, step in points])


def format_markdown(rows: list[dict]) -> str:
    tasks = list(dict.fromkeys(r["task"] for r in rows))
    lines = []
    for level in LEVELS:
        found = [r for r in rows if r["level"] == level]
        if not found:
            continue
        cell = {(r["selector"], r["task"]): r for r in found}
        lines += [f"**{level}** — per task: target acc / regret (worst) / weighted Spearman / "
                  "share > 5 pt below source-only [of it avoidable] (worst vs source-only)", "",
                  "| Selector | " + " | ".join(tasks) + " |", "|---|" + "---|" * len(tasks)]
        for selector in dict.fromkeys(r["selector"] for r in found):
            cells = [_cell(cell.get((selector, task))) for task in tasks]
            lines.append(f"| {selector} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def _cell(row) -> str:
    if row is None:
        return ""

    def f(value, spec=".3f"):
        return "n/a" if value is None else format(value, spec)

    return (f"{f(row['target_acc_mean'])} / {f(row['regret_mean'])} ({f(row['regret_worst'])}) / {f(row['weighted_spearman'], '.2f')} / "
            f"{f(row['share_5pt_below_source_only'], '.0%')} [{f(row['share_avoidably_5pt_below'], '.0%')}] ({f(row['worst_vs_source_only'], '+.3f')})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", default="runs/pool", help="RUNS/<task>/<label>-s<seed> run directories")
    parser.add_argument("--only", default="moons,digits-blend,digits-blend-hard", help="comma list of tasks (folders of RUNS)")
    parser.add_argument("--methods", default="", help="comma list of run labels (default: every run found)")
    parser.add_argument("--selectors", default="", help="comma list of selectors (default: every installed one)")
    parser.add_argument("--skip", default="reverse-val", help="selectors left out (reverse-val trains a model per checkpoint)")
    parser.add_argument("--reverse-steps", type=int, default=200, help="steps of each reverse-val model (0: the run's)")
    parser.add_argument("--write-prefix", default=str(HERE / "selection_table"), help="prefix of the .md/.csv written")
    args = parser.parse_args(argv)

    from dann_core.plugins import get_registry

    registry = get_registry()
    names = [n.strip() for n in args.selectors.split(",") if n.strip()] or list(registry.selectors)
    skip = {n.strip() for n in args.skip.split(",") if n.strip()}
    selectors = {n: registry.build("selector", n, {"steps": args.reverse_steps} if n == "reverse-val" else {}) for n in names if n not in skip}
    options = {"reverse-val": {"steps": args.reverse_steps}}
    methods = [m.strip() for m in args.methods.split(",") if m.strip()] or None
    started, rows = time.perf_counter(), []
    for task in [t.strip() for t in args.only.split(",") if t.strip()]:
        found = discover(Path(args.runs), task, methods)
        if not found:
            print(f"no finished runs under {Path(args.runs, task)}; skipped", file=sys.stderr)
            continue
        source_val = registry.build("selector", "source-val", {})  # the source-only reference's checkpoint
        scored = {**selectors, "source-val": selectors.get("source-val", source_val)}
        runs = score_runs(found, task, scored, options, registry, lambda line: print(line, file=sys.stderr, flush=True))
        rows += measure(runs, selectors, source_val)
    if not rows:
        parser.error(f"no finished runs under {args.runs} for {args.only}; run benchmarks.selection_pool first")
    command = " ".join(["python -m benchmarks.selection_table", *(argv if argv is not None else sys.argv[1:])])
    text = format_markdown(rows) + f"\nRegenerated by `{command}` in {(time.perf_counter() - started) / 60:.1f} min.\n"
    prefix = Path(args.write_prefix)
    prefix.with_suffix(".md").write_text(text)
    with prefix.with_suffix(".csv").open("w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    print(text, end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
