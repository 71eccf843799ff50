"""End to end: steps/s of dann's trainer against a textbook plain-PyTorch DANN loop, side by side.

``python -m benchmarks.bench_train [--steps 40] [--rounds 3] [--device cpu|cuda] [--only moons,digits]
[--variants eager,compile,bf16] [--threads 1]``

``python -m benchmarks.bench_train --sweep-threads 1,2,0 [--only moons,digits,resnet18,moons-wide] [--rounds 5]``
times dann's trainer alone at each torch thread count (0: torch's default, this machine's physical
cores), interleaved the same way, and prints the steps/s, their ratio to the first count and the
work of one step (forward + backward FLOPs, counted by ``torch.utils.flop_counter``): the data
behind ``--threads 0`` (auto, :mod:`dann_core.train.threads`); benchmarks/threads.md records it.

Both sides train the same networks (built by dann's plugins from the same seed: identical initial
weights), on the same data, with the same batch (source + target) and the same schedules (the
paper's λ ramp and learning-rate annealing, SGD with momentum). The textbook loop is what people
write today (tllib style): an ``autograd.Function`` gradient reversal, ``binary_cross_entropy_with_logits``
on the discriminator's output, accuracies computed separately, and ``loss.item()`` kept for logging
each step as tllib's meters do; its batches are drawn with ``torch.randint`` from tensors already on
the device. dann's side is exactly the body of ``Trainer.run()`` between evaluations:
``trainer.engine.step(trainer.next_batch())`` and the running means (no evaluation on either side).

Each variant (eager fp32, ``--compile``, ``--precision bf16``) applies to both sides (textbook:
``torch.compile`` of the same modules / ``torch.autocast``); the sides are timed in interleaved
chunks of ``--steps`` steps, ``--rounds`` times, after a warm-up (compilation happens there), and
compared by their medians. Ratios > 1 mean dann is faster. Absolute times on a shared machine mean
little; the ratios within one run are the result.
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch

from benchmarks.common import machine
from benchmarks.textbook import TextbookDANN
from dann_core import config as config_io
from dann_core.metrics import RunningMeans
from dann_core.train import Trainer

WORKLOADS = {
    "moons": {"dataset": "moons"},
    "digits": {"dataset": "digits-blend"},
    "resnet18": {"dataset": "digits-blend", "backbone": "resnet18"},
    "moons-wide": {"dataset": "moons", "backbone.width": 512, "backbone.depth": 3, "backbone.activation": "relu", "batch_size": 256, "lr": 0.01},
}
"""Workload → run flags (each dataset's recommendations choose the rest: moons/MLP, digits-blend/LeNet;
resnet18: torchvision's ResNet-18, random init, on digits-blend's 3×28×28 images). moons-wide (a 3×512
ReLU MLP, batch 256+256, lr 0.01: it diverges at moons' 0.1) is there for the threads sweep: a step
between the toy MLP's and LeNet's."""
DEFAULT_ONLY = "moons,digits,resnet18"
VARIANTS = {
    "eager": {},
    "compile": {"compile": True},
    "bf16": {"precision": "bf16"},
}


def textbook_loop(trainer: Trainer, variant: dict) -> TextbookDANN:
    """The plain loop over (deep copies of) the trainer's freshly built networks, on its data and schedules."""
    import copy

    cfg, model, data = trainer.config, trainer.method.model, trainer.data
    return TextbookDANN(
        *(copy.deepcopy(m) for m in (model.backbone, model.classifier, model.discriminator)),
        data.source_train.x, data.source_train.y, data.target_train.x,
        steps=cfg.steps, batch_size=cfg.batch_size, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay,
        lr_schedule=cfg.lr_schedule, lambda_=cfg.method_options.get("lambda", "schedule"),
        gamma=float(cfg.method_options.get("gamma", 10.0)), precision=variant.get("precision", "fp32"),
        compile=bool(variant.get("compile")), device=trainer.device, seed=cfg.seed,
    )


def dann_stepper(trainer: Trainer):
    means = RunningMeans()

    def step() -> None:
        metrics = trainer.engine.step(trainer.next_batch())
        for key in ("lambda", "lr"):
            metrics.pop(key, None)
        means.add(metrics)

    return step


def chunk_seconds(step, steps: int, device: torch.device) -> float:
    _sync(device)
    start = time.perf_counter()
    for _ in range(steps):
        step()
    _sync(device)
    return time.perf_counter() - start


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def bench(workload: str, variant: str, args) -> dict[str, float]:
    flags = {**WORKLOADS[workload], **VARIANTS[variant], "device": args.device, "threads": args.threads, "steps": 100_000, "eval_every": 100_000}
    cfg = config_io.resolve(flags=flags)
    trainer = Trainer(cfg)
    textbook = textbook_loop(trainer, VARIANTS[variant])
    sides = {"dann": dann_stepper(trainer), "textbook": textbook.step}
    for step in sides.values():  # warm-up: compilation, allocation
        chunk_seconds(step, args.warmup, trainer.device)
    samples = {name: [] for name in sides}
    for _ in range(args.rounds):
        for name, step in sides.items():
            samples[name].append(chunk_seconds(step, args.steps, trainer.device))
    trainer.engine.check_finite()
    rates = {name: args.steps / statistics.median(s) for name, s in samples.items()}
    return {"batch": cfg.batch_size, "backbone": cfg.backbone, **rates}


def step_flops(trainer: Trainer) -> int:
    """Forward + backward FLOPs of one training step (one update on one batch; matmuls and convolutions)."""
    from torch.utils.flop_counter import FlopCounterMode

    batch = trainer.next_batch()
    with FlopCounterMode(display=False) as counter:
        trainer.engine.step(batch)
    return counter.get_total_flops()


def sweep_threads(workload: str, counts: list[int], default_threads: int, args) -> dict:
    """steps/s of dann's trainer at each thread count, in interleaved chunks of about --chunk-seconds."""
    flags = {**WORKLOADS[workload], "device": args.device, "threads": 1, "steps": 100_000, "eval_every": 100_000}
    cfg = config_io.resolve(flags=flags)
    trainer = Trainer(cfg)
    step = dann_stepper(trainer)
    flops = step_flops(trainer)
    chunk = {}
    for count in counts:  # warm-up per count, and its chunk length: about --chunk-seconds of steps
        torch.set_num_threads(count or default_threads)
        seconds = chunk_seconds(step, args.warmup, trainer.device) / args.warmup
        chunk[count] = max(2, round(args.chunk_seconds / seconds))
    samples = {count: [] for count in counts}
    for _ in range(args.rounds):
        for count in counts:
            torch.set_num_threads(count or default_threads)
            samples[count].append(chunk[count] / chunk_seconds(step, chunk[count], trainer.device))
    trainer.engine.check_finite()
    return {"batch": cfg.batch_size, "backbone": cfg.backbone, "flops": flops, "steps": chunk,
            "rates": {count: statistics.median(s) for count, s in samples.items()},
            "spread": {count: (min(s), max(s)) for count, s in samples.items()}}


def main_sweep(args) -> None:
    import os

    counts = [int(c) for c in args.sweep_threads.split(",")]
    default_threads = torch.get_num_threads()
    print(f"# threads sweep of dann's trainer on {machine()} (torch default {default_threads}), device {args.device}, torch {torch.__version__}; "
          f"{args.rounds} interleaved rounds; load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"{'workload':<11} {'backbone':<9} {'batch':>5} {'MFLOP/step':>11} " + " ".join(f"{f't={c} steps/s':>14} {'ratio':>6}" for c in counts))
    for workload in args.only.split(","):
        r = sweep_threads(workload, counts, default_threads, args)
        base = r["rates"][counts[0]]
        cells = " ".join(f"{r['rates'][c]:>14.1f} {r['rates'][c] / base:>5.2f}x" for c in counts)
        print(f"{workload:<11} {r['backbone']:<9} {r['batch']:>5} {r['flops'] / 1e6:>11.2f} {cells}", flush=True)
        if args.verbose:
            print("  min-max steps/s: " + ", ".join(f"t={c}: {lo:.1f}-{hi:.1f}" for c, (lo, hi) in r["spread"].items()) + f" (steps a chunk: {r['steps']})")
    print(f"# load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=40, help="steps per timed chunk")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved chunks per side")
    parser.add_argument("--warmup", type=int, default=10, help="untimed steps per side first")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads for both sides")
    parser.add_argument("--only", default=None, help=f"comma list of {', '.join(WORKLOADS)} (default: {DEFAULT_ONLY}; the sweep: all)")
    parser.add_argument("--variants", default=",".join(VARIANTS), help=f"comma list of {', '.join(VARIANTS)}")
    parser.add_argument("--sweep-threads", default=None, metavar="1,2,0", help="time dann's trainer at each thread count instead (0: torch's default)")
    parser.add_argument("--chunk-seconds", type=float, default=1.0, help="sweep: about this long per timed chunk")
    parser.add_argument("--verbose", action="store_true", help="sweep: print each count's min-max too")
    args = parser.parse_args()
    if args.sweep_threads:
        args.only = args.only or ",".join(WORKLOADS)
        main_sweep(args)
        return
    args.only = args.only or DEFAULT_ONLY
    torch.set_num_threads(args.threads)
    print(f"# bench_train on {machine()}, device {args.device}, torch {torch.__version__}; {args.rounds} rounds x {args.steps} steps, interleaved")
    print(f"{'workload':<10} {'variant':<8} {'batch':>5} {'dann steps/s':>13} {'textbook steps/s':>17} {'dann/textbook':>14} {'vs textbook eager':>18}")
    for workload in args.only.split(","):
        eager_textbook = None
        for variant in args.variants.split(","):
            r = bench(workload, variant, args)
            eager_textbook = r["textbook"] if variant == "eager" else eager_textbook
            versus = f"{r['dann'] / eager_textbook:.2f}x" if eager_textbook else "-"
            print(f"{workload:<10} {variant:<8} {r['batch']:>5} {r['dann']:>13.1f} {r['textbook']:>17.1f} "
                  f"{r['dann'] / r['textbook']:>13.2f}x {versus:>18}", flush=True)


if __name__ == "__main__":
    main()
