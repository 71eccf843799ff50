"""Regenerates the multi-seed accuracy table (the shape of Table 2 of Ganin et al., JMLR 2016).

    python -m benchmarks.accuracy_table [--seeds 0,1,2] [--out runs/accuracy-table] [--only moons,digits-blend]
                                        [--methods ...] [--no-recommend] [--reverse-val]

Trains every method of METHODS for every seed on each dataset below (each run's best checkpoint
chosen by the run's selector, never with target labels), prints the Markdown table and writes
benchmarks/accuracy_table.md and benchmarks/accuracy_table.csv. Each row also gives the regret of
the default selector (mean over seeds of: the best target accuracy among the run's evaluated steps
minus the target accuracy of the step it chose; reported only).

The recommended setting of a method (second table): every candidate of SEARCH is trained on the same
seeds and the one with the highest mean *source-val accuracy at the final step* is kept (target labels
are never read to choose; ties keep the earlier, i.e. the paper's, setting). With --reverse-val the table
also gives the candidate with the lowest mean reverse-validation risk of its final checkpoint (the DANN
paper's criterion for hyper-parameters, JMLR 2016 §5.1.2: a reverse model trained per run, 500 steps;
scores are kept in each run's select-cache.json, shared with ``dann eval select``). Finished runs under --out
with the same config are reused, so an interrupted regeneration continues. Runtime on 2 CPU cores:
moons about 10 s a run (3000 steps); digits-blend 5-10 min a LeNet run.
"""
from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

SETTINGS = {
    # The JMLR toy network (15 sigmoid units) with moons' recommended recipe (lr 0.1, constant λ = 6,
    # 3000 steps), pinned here so the table does not move when a default or recommendation does.
    "moons": {"dataset": "moons", "backbone": "mlp", "discriminator": "mlp", "steps": 3000, "lr": 0.1, "method_options": {"lambda": 6.0, "gamma": 10.0},
              "eval_every": 300},  # ten evaluations: each scores every selector, which dominates a moons run's time
    # NOTES.md's MNIST-M recipe on scikit-learn digits: the paper's LeNet, its λ schedule, lr 0.03, 3000 steps.
    "digits-blend": {"dataset": "digits-blend", "backbone": "lenet", "discriminator": "mlp", "steps": 3000, "lr": 0.03,
                     "method_options": {"lambda": "schedule", "gamma": 10.0}},
}
COMMON = {"device": "cpu", "kernels": "reference", "batch_size": 64, "momentum": 0.9, "lr_schedule": True}
METHODS = ("source-only", "dann", "cdan", "cdan[entropy=true]", "mcc", "mdd", "dan", "jan", "mcd", "adda", "bsp", "afn",
           "cdan[plus=mcc]", "dann[plus=mcc]", "dann[plus=afn]", "cdan[plus=bsp]", "target-oracle")
"""Rows; the datasets' λ and γ reach the methods that take them (dann, cdan, bsp; not mdd, whose reversal
is its own option). ``cdan[plus=mcc]`` is CDAN+MCC, ``dann[plus=mcc]`` DANN+MCC, ``dann[plus=afn]``
DANN+AFN and ``cdan[plus=bsp]`` CDAN+BSP: settings, not classes (DANN+BSP is the method ``bsp``)."""
SEARCH = {
    "dann": ("dann", "dann[lambda=1]"),
    "mcc": ("mcc", "mcc[weight=0.3]"),
    # margin 2: the low end of the paper's 2-4; on digits-blend seed 2 the discrepancy loss blew up (to 1e13)
    # and the features collapsed to one class, and the margin scales its source term.
    "mdd": ("mdd", "mdd[reversal_max=1]", "mdd[margin=2]"),
    # weight 10 added in the fourth session: on digits-blend weight 3 had ended above weight 1 for both
    # kernel methods (their alignment was too weak at the paper's 1), so the next step of that trend
    "dan": ("dan", "dan[weight=3]", "dan[weight=10]"),
    "jan": ("jan", "jan[weight=3]", "jan[weight=10]"),
    "mcd": ("mcd", "mcd[generator_steps=1]"),
    "adda": ("adda", "adda[target_lr_mult=1]"),
    "bsp": ("bsp", "bsp[weight=0.001]"),
    "afn": ("afn", "afn[radius=25]"),
    # MCC's loss falls to ~0.01 within 1000 digits-blend steps (the target predictions confident, errors
    # included) and the compositions end below their base methods: a third of MCC's weight, as for mcc.
    # A tenth added in the fourth session: a third had ended above the full weight on digits-blend.
    "cdan[plus=mcc]": ("cdan[plus=mcc]", "cdan[plus=mcc,mcc_weight=0.3]", "cdan[plus=mcc,mcc_weight=0.1]"),
    "dann[plus=mcc]": ("dann[plus=mcc]", "dann[plus=mcc,mcc_weight=0.3]", "dann[plus=mcc,mcc_weight=0.1]"),
}
"""Candidates per method for the recommended setting: the paper's default first, then one change each
(chosen without target labels: see the module docstring), a second one only where a digits-blend run
showed a reason (mdd; the fourth session's continuations of a trend, noted above). Few alternatives keep the search to one or two extra runs per seed on the
shared 2-core machine."""
"""Settings of every run; kernels=reference (plain PyTorch ops) keeps the table independent of the extension's build."""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0,1,2", help="seeds (0,1,2 or 0-4)")
    parser.add_argument("--only", default=",".join(SETTINGS), help=f"comma list of {', '.join(SETTINGS)}")
    parser.add_argument("--out", default="runs/accuracy-table", help="where the run directories go")
    parser.add_argument("--methods", default=",".join(METHODS), help="comma list of methods (options in brackets)")
    parser.add_argument("--override", action="append", default=[], metavar="DATASET.KEY=VALUE",
                        help="change one setting of one dataset's runs, e.g. digits-blend.steps=1000 (repeatable)")
    parser.add_argument("--write-prefix", default=str(HERE / "accuracy_table"), help="prefix of the .md/.csv written")
    parser.add_argument("--no-recommend", action="store_true", help="skip the SEARCH candidates (the recommended-setting table)")
    parser.add_argument("--reverse-val", action="store_true",
                        help="also recommend by the DANN paper's reverse validation of each candidate run's final checkpoint "
                             "(a reverse model per run: ~25 s per digits-blend run on 2 cores; cached in the run directory)")
    args = parser.parse_args(argv)

    from dann_core.config import RunConfig, parse_set
    from dann_evaluation.tables import aggregate, format_markdown, parse_methods, parse_seeds, run_multi_seed, write_table
    from dann_core.plugins import get_registry

    names = [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = [n for n in names if n not in SETTINGS]
    if unknown:
        parser.error(f"unknown dataset {', '.join(unknown)}; choose from {', '.join(SETTINGS)}")
    seeds = parse_seeds(args.seeds)
    registry = get_registry()
    methods = parse_methods(args.methods, registry)
    settings = {name: dict(values) for name, values in SETTINGS.items()}
    for item in args.override:
        target, eq, text = item.partition("=")
        name, dot, key = target.partition(".")
        if not eq or not dot or name not in settings:
            parser.error(f"--override expects DATASET.KEY=VALUE with DATASET in {', '.join(SETTINGS)}, got {item!r}")
        settings[name][key] = parse_set(f"{key}={text}")[1]
    started = time.perf_counter()
    summaries = []
    for name in names:
        base = RunConfig(**{**COMMON, **settings[name]})
        summaries += run_multi_seed(base, seeds, methods, out=args.out, progress=lambda m: print(m, file=sys.stderr, flush=True), registry=registry)
    rows = aggregate(summaries)
    for row in rows:
        row["regret_mean"] = _regret(summaries, row)
    recommended = []
    if not args.no_recommend:
        for name in names:
            base = RunConfig(**{**COMMON, **settings[name]})
            for method in methods:
                candidates = SEARCH.get(method, ())
                if len(candidates) < 2:
                    continue
                runs = run_multi_seed(base, seeds, candidates, out=args.out, registry=registry,
                                      progress=lambda m: print(m, file=sys.stderr, flush=True))
                found = aggregate(runs)
                if args.reverse_val:
                    for row in found:
                        row["reverse_risk_mean"] = _reverse_risk(runs, row, registry)
                best = max(found, key=lambda r: (r["source_val_acc_mean"], -candidates.index(r["method"])))
                entry = {**best, "base": method, "tried": "; ".join(_tried(r, args.reverse_val) for r in found)}
                if args.reverse_val:
                    entry["by_reverse"] = min(found, key=lambda r: (r["reverse_risk_mean"], candidates.index(r["method"])))
                recommended.append(entry)
    seconds = time.perf_counter() - started
    described = "; ".join(f"{n}: " + ", ".join(f"{k}={v}" for k, v in settings[n].items() if k != "dataset") for n in names)
    command = " ".join(["python -m benchmarks.accuracy_table", f"--seeds {args.seeds}", f"--only {','.join(names)}"]
                       + ([f'--methods "{args.methods}"'] if args.methods != ",".join(METHODS) else [])
                       + [f"--override {o}" for o in args.override] + (["--no-recommend"] if args.no_recommend else [])
                       + (["--reverse-val"] if args.reverse_val else []))
    text = _with_regret(format_markdown(rows), rows) + _recommended_markdown(recommended, rows) + (
        f"\nSettings — {described}. Seeds {args.seeds}. "
        f"Regenerated by `{command}`. "
        f"Training time of the runs: {sum(float(x.get('seconds') or 0) for x in summaries) / 60:.1f} min "
        f"on {platform.machine()} ({_cores()} cores, CPU, shared); this invocation took {seconds / 60:.1f} min.\n"
    )
    paths = write_table(rows, args.write_prefix)
    paths[0].write_text(text)
    print(text, end="")
    print(f"written: {paths[0]}, {paths[1]}", file=sys.stderr)
    return 0


def _reverse_risk(runs: list[dict], row: dict, registry) -> float:
    """Mean over the row's runs of the reverse-validation risk of the final checkpoint (lower is better)."""
    import statistics

    from dann_evaluation.report import candidate_score

    risks = []
    for run in runs:
        if (run["dataset"], run.get("label") or run["method"]) == (row["dataset"], row["method"]):
            print(f"reverse-val: {row['method']} seed {run['seed']}", file=sys.stderr, flush=True)
            risks.append(candidate_score(run["run_dir"], run["steps"], "reverse-val", registry))
    return round(statistics.fmean(risks), 4)


def _tried(row: dict, reverse: bool) -> str:
    risk = f" / {row['reverse_risk_mean']:.4f}" if reverse else ""
    return f"{row['method']} {row['source_val_acc_mean']:.4f}{risk} / {row['target_acc_mean']:.4f}"


def _regret(summaries: list[dict], row: dict) -> float | None:
    """Mean over the row's runs of (best evaluated target acc − target acc of the selected step)."""
    import json
    import statistics

    regrets = []
    for summary in summaries:
        if (summary["dataset"], summary.get("label") or summary["method"]) != (row["dataset"], row["method"]):
            continue
        lines = [json.loads(line) for line in (Path(summary["run_dir"]) / "metrics.jsonl").read_text().splitlines() if line.strip()]
        accs = [line["target_test_acc"] for line in lines if line.get("target_test_acc") is not None]
        if accs and summary.get("target_test_acc") is not None:
            regrets.append(max(accs) - summary["target_test_acc"])
    return round(statistics.fmean(regrets), 4) if regrets else None


def _with_regret(markdown: str, rows: list[dict]) -> str:
    """The default table plus one line per dataset: the default selector's regret per method."""
    by_dataset: dict[str, list[str]] = {}
    for row in rows:
        if row.get("regret_mean") is not None:
            by_dataset.setdefault(row["dataset"], []).append(f"{row['method']} {row['regret_mean']:.4f}")
    lines = [f"\nRegret of the default selector ({rows[0]['selector'] if rows else 'last'}) on {d}, mean over seeds: " + ", ".join(v) + "."
             for d, v in by_dataset.items()]
    return markdown + "\n".join(lines) + "\n"


def _recommended_markdown(recommended: list[dict], rows: list[dict]) -> str:
    if not recommended:
        return ""
    default = {(r["dataset"], r["method"]): r for r in rows}
    reverse = "by_reverse" in recommended[0]
    lines = ["", "Recommended setting per method (chosen by mean source-val accuracy at the final step"
             + ("; and by the mean reverse-validation risk of the final checkpoint, JMLR 2016 §5.1.2" if reverse else "")
             + "; target labels never read):", "",
             "| Dataset | Method | Recommended | Target acc | Default's target acc |"
             + (" By reverse-val | Its target acc |" if reverse else "")
             + f" Candidates: source-val{' / reverse risk' if reverse else ''} / target acc |",
             "|---|---|---|---|---|" + ("---|---|" if reverse else "") + "---|"]
    for r in recommended:
        d = default.get((r["dataset"], r["base"]))
        by_reverse = (f" {r['by_reverse']['method']} | {r['by_reverse']['target_acc_mean']:.4f} ± {r['by_reverse']['target_acc_std']:.4f} |"
                      if reverse else "")
        lines.append(f"| {r['dataset']} | {r['base']} | {r['method']} | {r['target_acc_mean']:.4f} ± {r['target_acc_std']:.4f} | "
                     f"{'n/a' if d is None else format(d['target_acc_mean'], '.4f')} |{by_reverse} {r['tried']} |")
    return "\n".join(lines) + "\n"


def _cores() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


if __name__ == "__main__":
    raise SystemExit(main())
