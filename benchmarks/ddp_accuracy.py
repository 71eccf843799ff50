"""Does data-parallel training reach the accuracy of one process? Moons, ``--nproc 1`` vs ``--nproc 2``.

    python -m benchmarks.ddp_accuracy [--seeds 0,1,2] [--nproc 2] [--out runs/ddp-accuracy] [--set KEY=VALUE ...]

Trains ``dann run --dataset moons`` (the dataset's recommended recipe: the JMLR toy MLP, lr 0.1,
constant λ = 6, 3000 steps, global batch 64 per domain) once in one process and once in ``--nproc``
gloo processes per seed, each from its own empty working directory and without ``--out``, so the
launcher picks the run directory; it checks that exactly one run directory appeared there (rank 0
writes, the others only read). From each run's summary.json it takes target_test_acc at the last
step and at the selected checkpoint (the default selector), and writes the mean ± std and the
per-seed numbers to benchmarks/ddp_accuracy.md. About a minute per seed on 2 CPU cores.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def train(nproc: int, seed: int, workdir: Path, sets: list[str]) -> dict:
    """One ``dann run`` in ``workdir`` (fresh); returns its summary with the run directories found."""
    workdir.mkdir(parents=True, exist_ok=False)
    args = [sys.executable, "-m", "dann_core", "run", "--dataset", "moons", "--seed", str(seed), "--nproc", str(nproc), "--quiet"]
    for item in sets:
        args += ["--set", item]
    started = time.perf_counter()
    result = subprocess.run(args, cwd=workdir, capture_output=True, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    if result.returncode != 0:
        sys.exit(f"dann run --nproc {nproc} --seed {seed} failed:\n{result.stderr[-3000:]}")
    runs = sorted(p for p in (workdir / "runs").iterdir() if p.is_dir()) if (workdir / "runs").is_dir() else []
    others = sorted(p.name for p in workdir.iterdir() if p.name != "runs")
    if len(runs) != 1 or others:
        sys.exit(f"--nproc {nproc} --seed {seed}: expected one run directory under {workdir / 'runs'}, found {[p.name for p in runs]} (and {others})")
    summary = json.loads((runs[0] / "summary.json").read_text())
    config = json.loads((runs[0] / "config.json").read_text())
    return {"nproc": nproc, "seed": seed, "selected": summary["target_test_acc"], "final": summary["final"]["target_test_acc"],
            "best_step": summary["best_step"], "selector": summary["selector"], "steps": summary["steps"], "batch": config["batch_size"],
            "threads": config["threads"], "seconds": time.perf_counter() - started, "run_dir": str(runs[0])}


def first_difference(a: str, b: str, tolerance: float = 1e-4) -> int | None:
    """The first evaluation step at which two runs' logged losses differ by more than ``tolerance``."""
    logs = [[json.loads(line) for line in Path(run, "metrics.jsonl").read_text().splitlines()] for run in (a, b)]
    for line_a, line_b in zip(*logs):
        if any(abs(line_a[k] - line_b[k]) > tolerance for k in ("label_loss", "domain_loss")):
            return line_a["step"]
    return None


def mean_std(values: list[float]) -> str:
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.3f} ± {std:.3f}"


def markdown(rows: list[dict], nprocs: list[int], sets: list[str], load: str) -> str:
    seeds = sorted({r["seed"] for r in rows})
    by = {(r["nproc"], r["seed"]): r for r in rows}
    first = rows[0]
    lines = [
        "# DDP accuracy: moons, one process vs data-parallel",
        "",
        f"`python -m benchmarks.ddp_accuracy` — `dann run --dataset moons` (its recipe: {first['steps']} steps, global batch "
        f"{first['batch']} per domain, selector `{first['selector']}`){' with ' + ', '.join(f'`--set {s}`' for s in sets) if sets else ''}; "
        f"gloo on CPU. Each `--nproc` run wrote exactly one run directory (checked). {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} CPUs; load average at the end: {load}.",
        "",
        "target_test_acc, mean ± std over seeds " + ", ".join(map(str, seeds)) + ":",
        "",
        "| processes | last step | selected (best.pt) | seconds per run |",
        "| --- | --- | --- | --- |",
    ]
    for n in nprocs:
        mine = [by[(n, s)] for s in seeds]
        lines.append(f"| {n} | {mean_std([r['final'] for r in mine])} | {mean_std([r['selected'] for r in mine])} | "
                     f"{statistics.mean(r['seconds'] for r in mine):.0f} |")
    lines += ["", "Per seed (last step / selected; threads per process from config.json; the first evaluation at which the "
              "logged label or domain loss of the two runs differs by more than 1e-4):", "",
              "| seed | " + " | ".join(f"nproc {n}" for n in nprocs) + " | losses first differ at step |", "| --- |" + " --- |" * (len(nprocs) + 1)]
    for s in seeds:
        cells = [f"{by[(n, s)]['final']:.4f} / {by[(n, s)]['selected']:.4f} (threads {by[(n, s)]['threads']})" for n in nprocs]
        differ = first_difference(by[(nprocs[0], s)]["run_dir"], by[(nprocs[1], s)]["run_dir"])
        lines.append(f"| {s} | " + " | ".join(cells) + f" | {differ if differ is not None else 'never'} of {by[(nprocs[0], s)]['steps']} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0,1,2", help="comma list of seeds")
    parser.add_argument("--nproc", type=int, default=2, help="processes of the data-parallel runs")
    parser.add_argument("--out", default="runs/ddp-accuracy", help="working directories of the runs (must not exist)")
    parser.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE", help="passed to every run")
    parser.add_argument("--write", default=str(HERE / "ddp_accuracy.md"), help="the Markdown table written")
    args = parser.parse_args(argv)
    seeds, nprocs, root = [int(s) for s in args.seeds.split(",")], [1, args.nproc], Path(args.out)
    if root.exists():
        parser.error(f"{root} exists; pick another --out (each run needs a fresh working directory)")
    rows = []
    for seed in seeds:  # interleaved: a change in the machine's load hits both sides alike
        for n in nprocs:
            row = train(n, seed, (root / f"nproc{n}-s{seed}").resolve(), args.sets)
            rows.append(row)
            print(f"nproc {n} seed {seed}: last {row['final']:.4f}, selected {row['selected']:.4f} (step {row['best_step']}), "
                  f"{row['seconds']:.0f} s, threads {row['threads']}", flush=True)
    text = markdown(rows, nprocs, args.sets, " ".join(f"{x:.2f}" for x in os.getloadavg()))
    Path(args.write).write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
