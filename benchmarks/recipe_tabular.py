"""Backbones and input standardisation for tabular npz data: source-only against dann, 3 seeds.

    python -m benchmarks.recipe_tabular [--runs DIR] [--seeds 0,1,2] [--collect]

The task (written to DIR/noisy-digits.npz): scikit-learn's digits as 64 features in [0, 1] for source
(half of the 1,797 digits); the other half, each row scaled by a gain in [0.5, 1.5] and given
Gaussian pixel noise of σ 0.3, as target (a shift a user's tabular data may have: another sensor,
another gain). Each configuration below trains with the npz dataset's defaults otherwise (lr 0.01,
3000 steps, the λ schedule, batch 64, best.pt = the last step) and its settings pinned. One row per
(configuration, method): target accuracy (reported only), source-val accuracy (the label-free
criterion), collapsed runs. ``--collect`` reads the run directories and trains nothing. About 30 s a
run on one thread.
"""
from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

CONFIGS = {
    "mlp (15 sigmoid units, the JMLR toy)": [],
    "mlp, standardize=domain": ["dataset.standardize=domain"],
    "mlp width 128 relu": ["backbone.width=128", "backbone.activation=relu"],
    "mlp width 128 relu, standardize=source": ["backbone.width=128", "backbone.activation=relu", "dataset.standardize=source"],
    "mlp width 128 relu norm=batch": ["backbone.width=128", "backbone.activation=relu", "backbone.norm=batch"],
    "mlp width 128 relu norm=batch, standardize=source": ["backbone.width=128", "backbone.activation=relu", "backbone.norm=batch",
                                                          "dataset.standardize=source"],
    "mlp width 128 relu norm=batch, standardize=domain": ["backbone.width=128", "backbone.activation=relu", "backbone.norm=batch",
                                                          "dataset.standardize=domain"],
    "mlp width 128 relu norm=domain, standardize=domain": ["backbone.width=128", "backbone.activation=relu", "backbone.norm=domain",
                                                           "dataset.standardize=domain"],
}
PINNED = {"backbone.norm": "none", "backbone.width": 15, "backbone.activation": "sigmoid", "backbone.depth": 1, "dataset.standardize": "none"}


def write_task(path: Path, sigma: float = 0.3) -> Path:
    import numpy as np
    from sklearn.datasets import load_digits

    digits = load_digits()
    x, y = digits.data.astype(np.float32) / 16.0, digits.target
    rng = np.random.default_rng(0)
    order = rng.permutation(len(y))
    source, target = order[: len(y) // 2], order[len(y) // 2 :]
    xt = x[target] * rng.uniform(0.5, 1.5, size=(len(target), 1)) + rng.normal(0, sigma, size=(len(target), x.shape[1]))
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, xs=x[source], ys=y[source], xt=xt.astype(np.float32), yt=y[target])
    return path


def slug(name: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in name).strip("-").replace("--", "-")


def train_or_read(runs: Path, npz: Path, name: str, method: str, seed: int, collect: bool) -> dict | None:
    out = runs / f"recipe-tab-{slug(name)}-{method}-s{seed}"
    if not (out / "summary.json").exists() and not collect and not out.exists():
        import torch

        from dann_core import config as config_io
        from dann_core.train import train

        torch.set_num_threads(1)
        sets = [f"{k}={v}" for k, v in {**PINNED, **dict(s.split("=", 1) for s in CONFIGS[name])}.items()]
        cfg = config_io.resolve(None, [f"dataset.path={npz}", *sets],
                                {"dataset": "npz", "backbone": "mlp", "method": method, "seed": seed, "threads": 1, "lr": 0.01,
                                 "steps": 3000, "lambda": "schedule", "out": str(out)})
        train(cfg, out)
    try:
        return json.loads((out / "summary.json").read_text())
    except (OSError, ValueError):
        return None


def cell(values: list[float]) -> str:
    if not values:
        return "n/a"
    return f"{statistics.fmean(values):.3f} ± {statistics.stdev(values) if len(values) > 1 else 0.0:.3f}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", default="runs/recipe-tabular")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--collect", action="store_true")
    args = parser.parse_args(argv)
    runs = Path(args.runs)
    npz = runs / "noisy-digits.npz"
    if not npz.exists() and not args.collect:
        write_task(npz)
    print("| configuration | method | runs | target acc (reported only) | source val acc | collapsed |")
    print("|---|---|---|---|---|---|")
    for name in CONFIGS:
        for method in ("source-only", "dann"):
            found = [s for s in (train_or_read(runs, npz, name, method, int(seed), args.collect) for seed in args.seeds.split(",")) if s]
            print(f"| {name} | {method} | {len(found)} | {cell([s['target_test_acc'] for s in found])} | "
                  f"{cell([s['best_source_val_acc'] for s in found])} | {sum(s.get('state') == 'collapsed' for s in found)} |", flush=True)


if __name__ == "__main__":
    main()
