"""The plain PyTorch DANN script a careful user writes without dann (bench_e2e times it as a whole process).

``python benchmarks/e2e_plain.py --dataset moons|digits-blend [--steps N] [--eval-every 100]
[--precision fp32|bf16] [--compile] [--threads N] [--device cpu] [--seed 0] [--out DIR]``

Same work as ``dann run --dataset ...`` with that dataset's recommended recipe (RECIPES: the same
networks, batch 64 + 64, SGD with momentum 0.9, the paper's learning-rate annealing, λ constant 6 on
moons and the paper's ramp on digits-blend), the loop of :class:`benchmarks.textbook.TextbookDANN`,
and the target-test accuracy evaluated every ``--eval-every`` steps and at the last (dann's cadence).
At the end it saves the final weights and a small JSON summary under ``--out`` (when given).

The data come from dann's dataset plugin functions (``make_moons_problem``, ``make_digits_blend``)
so both sides train on identical tensors; building them is in both processes' wall clock and is not
what bench_e2e compares (a user's script would load its own data).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

STARTED = time.perf_counter()

RECIPES = {
    "moons": {"lr": 0.1, "lambda_": 6.0, "batch_size": 64, "steps": 3000, "momentum": 0.9},
    "digits-blend": {"lr": 0.03, "lambda_": "schedule", "batch_size": 64, "steps": 3000, "momentum": 0.9},
}
"""dann's recommended recipe of each dataset (dann_datasets: MOONS_RECIPE, DIGITS_RECIPE, and the
run defaults); tests/project/test_bench_e2e.py checks them against dann's resolved config."""


def load_data(dataset: str, seed: int):
    if dataset == "moons":
        from dann_datasets.moons import make_moons_problem

        return make_moons_problem(seed)
    from dann_datasets.digits_blend import make_digits_blend

    return make_digits_blend(seed)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", choices=sorted(RECIPES), default="moons")
    parser.add_argument("--steps", type=int, default=None, help="default: the recipe's")
    parser.add_argument("--eval-every", type=int, default=100)
    parser.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    parser.add_argument("--compile", action="store_true")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument("--device", default=None, help="default: cuda when available, else cpu")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None, help="directory for final.pt and summary.json")
    args = parser.parse_args(argv)

    import torch

    from benchmarks.textbook import TextbookDANN, paper_networks

    if args.threads:
        torch.set_num_threads(args.threads)
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    recipe = dict(RECIPES[args.dataset])
    steps = args.steps or recipe.pop("steps")
    recipe.pop("steps", None)
    data = load_data(args.dataset, args.seed)
    torch.manual_seed(args.seed)
    networks = paper_networks(args.dataset, tuple(data.source_train.x.shape[1:]), data.num_classes)
    loop = TextbookDANN(*networks, data.source_train.x, data.source_train.y, data.target_train.x, steps=steps,
                        precision=args.precision, compile=args.compile, device=device, seed=args.seed, **recipe)
    history = []
    for step in range(1, steps + 1):
        loop.step()
        if step % args.eval_every == 0 or step == steps:
            history.append({"step": step, "target_test_acc": loop.accuracy(data.target_test.x, data.target_test.y)})
    summary = {"steps": steps, "target_test_acc": history[-1]["target_test_acc"], "history": history,
               "mean_label_loss": loop.label_loss_sum / steps, "seconds": round(time.perf_counter() - STARTED, 3)}
    if args.out:
        os.makedirs(args.out, exist_ok=True)
        modules = {"backbone": loop.backbone, "classifier": loop.classifier, "discriminator": loop.discriminator}
        torch.save({name: m.state_dict() for name, m in modules.items()}, os.path.join(args.out, "final.pt"))
        with open(os.path.join(args.out, "summary.json"), "w") as f:
            json.dump(summary, f)
    return summary


if __name__ == "__main__":
    sys.path[:0] = [os.path.dirname(os.path.dirname(os.path.abspath(__file__)))]  # run as a file: find benchmarks/
    print(json.dumps({k: v for k, v in main().items() if k != "history"}))
