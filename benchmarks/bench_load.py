"""A short ``dann run`` on a quiet machine and with other CPU-bound processes running, side by side.

``python -m benchmarks.bench_load [--steps 150] [--rounds 3] [--burners 2] [--variants default,spin,passive,one] [--workload run|tsne]``

Each measurement is one ``python -m dann_core run --dataset digits-blend --steps N --eval-every N
--select last --quiet`` process (the dataset's LeNet recipe), timed by wall clock from its start to
its exit; ``train s`` is its summary.json ``seconds`` (the steps and the one evaluation, without
start-up). *Busy* measurements run with ``--burners`` processes of ``while True: pass`` started just
before and killed just after: what another user's job does to the cores. Every (variant, load)
pair runs once per round, in an order shuffled per round (seeded), so a change of the machine's
background load spreads over all pairs; medians over the rounds are compared, within this run only.

Variants (the OpenMP runtime of torch's pip wheel is GNU libgomp; its wait policy is read from the
environment once, when torch loads it):

- ``default``: no flag, no environment: what ``dann run`` does by itself (its ``--threads 0`` rule
  and the wait policy its entry point sets, dann_core/cli/__init__.py).
- ``spin``: ``--threads T`` with ``GOMP_SPINCOUNT=300000``, libgomp's own default when nothing is set
  (a waiting thread spins about 3 ms before it sleeps): what dann did before it set a policy.
- ``passive``: ``--threads T`` with ``OMP_WAIT_POLICY=PASSIVE`` (a waiting thread sleeps at once).
- ``spinNNN``: ``--threads T`` with ``GOMP_SPINCOUNT=NNN`` (e.g. ``spin10000``, about 0.1 ms).
- ``one``: ``--threads 1`` (no OpenMP team to wait for).

``--workload tsne`` times ``dann plot``'s t-SNE instead: scikit-learn's TSNE (its own bundled libgomp)
of 1,000 random 50-dimensional points, as ``dann plot`` embeds each panel, in a fresh process per
measurement with the variant's environment (``--threads`` becomes ``OMP_NUM_THREADS``).

T is ``--threads-many`` (default: the physical cores, what ``--threads 0`` picks for LeNet). The
script also checks that the same thread count gives the same target accuracy under every policy and
load: a wait policy changes when threads sleep, never what they compute.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OPENMP_KEYS = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")


def variant_setup(name: str, many: int) -> tuple[list[str], dict[str, str]]:
    """(extra dann run flags, extra environment) of a variant name."""
    if name == "default":
        return [], {}
    if name == "one":
        return ["--threads", "1"], {}
    if name == "spin":
        return ["--threads", str(many)], {"GOMP_SPINCOUNT": "300000"}
    if name == "passive":
        return ["--threads", str(many)], {"OMP_WAIT_POLICY": "PASSIVE"}
    if name.startswith("spin") and name[4:].isdigit():
        return ["--threads", str(many)], {"GOMP_SPINCOUNT": name[4:]}
    raise SystemExit(f"unknown variant {name!r}: default, spin, passive, spinNNN or one")


TSNE_SCRIPT = """
import time, numpy as np
from sklearn.manifold import TSNE
x = np.random.default_rng(0).normal(size=(1000, 50))
started = time.perf_counter()
points = TSNE(n_components=2, init="pca", perplexity=30.0, random_state=0).fit_transform(x)
print(time.perf_counter() - started, float(np.abs(points).sum()))
"""


def tsne_once(flags: list[str], env_extra: dict[str, str], burners: int) -> dict:
    """One t-SNE process (with ``burners`` CPU burners alongside): wall s, t-SNE s, a checksum of the result."""
    env = {k: v for k, v in os.environ.items() if k not in OPENMP_KEYS + ("OMP_NUM_THREADS",)}
    env.update(env_extra)
    if not env_extra and not flags:  # default: what dann plot's process gets from the dann entry point
        sys.path.insert(0, str(ROOT))
        from dann_core.machine import OPENMP_WAIT_POLICY

        env.update(OPENMP_WAIT_POLICY)
    threads = int(flags[1]) if flags else 0
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
    burning = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(burners)]
    try:
        load_before = os.getloadavg()[0]
        started = time.perf_counter()
        done = subprocess.run([sys.executable, "-c", TSNE_SCRIPT], env=env, capture_output=True, text=True)
        wall = time.perf_counter() - started
        if done.returncode != 0:
            raise SystemExit(f"t-SNE failed: {done.stderr.strip()[-500:]}")
        seconds, checksum = (float(v) for v in done.stdout.split())
    finally:
        for process in burning:
            process.kill()
            process.wait()
    return {"wall": wall, "train": seconds, "acc": checksum, "threads": threads or os.cpu_count(), "load": load_before, "chose": ""}


def run_once(flags: list[str], env_extra: dict[str, str], steps: int, burners: int) -> dict:
    """One ``dann run`` process (with ``burners`` CPU burners alongside): wall s, train s, accuracy."""
    env = {k: v for k, v in os.environ.items() if k not in OPENMP_KEYS}
    env.update(env_extra)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    burning = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(burners)]
    try:
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "run"
            command = [sys.executable, "-m", "dann_core", "run", "--dataset", "digits-blend", "--steps", str(steps),
                       "--eval-every", str(steps), "--select", "last", "--quiet", "--out", str(out), *flags]
            load_before = os.getloadavg()[0]
            started = time.perf_counter()
            done = subprocess.run(command, env=env, capture_output=True, text=True)
            wall = time.perf_counter() - started
            if done.returncode != 0:
                raise SystemExit(f"{' '.join(command)} failed ({done.returncode}): {done.stderr.strip()[-500:]}")
            summary = json.loads((out / "summary.json").read_text())
            threads = json.loads((out / "config.json").read_text())["threads"]
            chose = next((line for line in done.stderr.splitlines() if line.startswith("threads:")), "")
    finally:
        for process in burning:
            process.kill()
            process.wait()
    return {"wall": wall, "train": summary["seconds"], "acc": summary["final"]["target_test_acc"], "threads": threads,
            "load": load_before, "chose": chose}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--burners", type=int, default=2, help="CPU-bound processes running alongside a busy measurement")
    parser.add_argument("--variants", default="default,spin,passive,one")
    parser.add_argument("--threads-many", type=int, default=0, help="T of the spin/passive variants (0: physical cores)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the per-round order")
    parser.add_argument("--workload", choices=("run", "tsne"), default="run")
    parser.add_argument("--loads", default="quiet,busy", help="which of quiet,busy to measure (quiet alone: the policies' cost on an idle machine)")
    args = parser.parse_args(argv)

    sys.path.insert(0, str(ROOT))
    from dann_core.train.threads import machine_cores  # torch is imported here, in this process only

    many = args.threads_many or machine_cores()
    variants = args.variants.split(",")
    loads = [load for load in ("quiet", "busy") if load in args.loads.split(",")]
    cells = [(v, load) for v in variants for load in loads]
    results: dict[tuple[str, str], list[dict]] = {cell: [] for cell in cells}
    order = random.Random(args.seed)
    what = f"{args.steps} steps of digits-blend" if args.workload == "run" else "t-SNE of 1,000 x 50 (train s: TSNE.fit_transform)"
    print(f"# {what}, {args.rounds} rounds, busy = {args.burners} burners, "
          f"T = {many} threads, {os.cpu_count()} CPUs", flush=True)
    for round_index in range(args.rounds):
        shuffled = cells[:]
        order.shuffle(shuffled)
        for variant, load in shuffled:
            flags, env = variant_setup(variant, many)
            burners = args.burners if load == "busy" else 0
            result = run_once(flags, env, args.steps, burners) if args.workload == "run" else tsne_once(flags, env, burners)
            results[(variant, load)].append(result)
            print(f"round {round_index + 1} {variant:>10} {load:<5} wall {result['wall']:7.1f} s  train {result['train']:7.1f} s  "
                  f"threads {result['threads']}  acc {result['acc']:.4f}  load1 {result['load']:.1f}", flush=True)

    def median(variant, load, key):
        return statistics.median(r[key] for r in results[(variant, load)])

    reference = "spin" if "spin" in variants else variants[0]
    if loads == ["quiet"]:
        print(f"\n| variant | threads | wall s | train s | train / {reference}'s |")
        print("|---|---|---|---|---|")
        for variant in variants:
            threads = sorted({r["threads"] for r in results[(variant, "quiet")]})
            qw, qt = median(variant, "quiet", "wall"), median(variant, "quiet", "train")
            print(f"| {variant} | {','.join(map(str, threads))} | {qw:.1f} | {qt:.1f} | {qt / median(reference, 'quiet', 'train'):.2f}x |")
    else:
        print("\n| variant | threads | quiet wall s | busy wall s | busy / quiet | quiet train s | busy train s "
              f"| busy / quiet (train) | quiet train / {reference}'s |")
        print("|---|---|---|---|---|---|---|---|---|")
    for variant in variants if loads == ["quiet", "busy"] else []:
        qw, bw, qt, bt = (median(variant, load, key) for load, key in (("quiet", "wall"), ("busy", "wall"), ("quiet", "train"), ("busy", "train")))
        threads = sorted({r["threads"] for load in ("quiet", "busy") for r in results[(variant, load)]})
        print(f"| {variant} | {','.join(map(str, threads))} | {qw:.1f} | {bw:.1f} | {bw / qw:.2f}x | {qt:.1f} | {bt:.1f} | {bt / qt:.2f}x | "
              f"{qt / median(reference, 'quiet', 'train'):.2f}x |")
    chose = {r["chose"] for r in results.get(("default", "quiet"), []) + results.get(("default", "busy"), []) if r["chose"]}
    if chose:
        print(f"\ndefault run said: {' / '.join(sorted(chose))}")
    by_threads: dict[int, set] = {}
    for runs in results.values():
        for r in runs:
            by_threads.setdefault(r["threads"], set()).add(round(r["acc"], 6))
    measure = "target acc" if args.workload == "run" else "t-SNE result checksum"
    for count, accs in sorted(by_threads.items()):
        same = "the same under every policy and load" if len(accs) == 1 else f"DIFFERENT: {sorted(accs)}"
        print(f"{measure} at {count} thread(s): {same}")


if __name__ == "__main__":
    main()
