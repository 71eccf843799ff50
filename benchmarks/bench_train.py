"""End to end: steps/s of dann's trainer against a textbook plain-PyTorch DANN loop, side by side.

``python -m benchmarks.bench_train [--steps 40] [--rounds 3] [--device cpu|cuda] [--only moons,digits]
[--variants eager,compile,bf16] [--threads 1]``

Both sides train the same networks (built by dann's plugins from the same seed: identical initial
weights), on the same data, with the same batch (source + target) and the same schedules (the
paper's λ ramp and learning-rate annealing, SGD with momentum). The textbook loop is what people
write today (tllib style): an ``autograd.Function`` gradient reversal, ``binary_cross_entropy_with_logits``
on the discriminator's output, accuracies computed separately, and ``loss.item()`` kept for logging
each step as tllib's meters do; its batches are drawn with ``torch.randint`` from tensors already on
the device. dann's side is exactly the body of ``Trainer.run()`` between evaluations:
``algorithm.update(trainer.next_batch())`` and the running means (no evaluation on either side).

Each variant (eager fp32, ``--compile``, ``--precision bf16``) applies to both sides (textbook:
``torch.compile`` of the same modules / ``torch.autocast``); the sides are timed in interleaved
chunks of ``--steps`` steps, ``--rounds`` times, after a warm-up (compilation happens there), and
compared by their medians. Ratios > 1 mean dann is faster. Absolute times on a shared machine mean
little; the ratios within one run are the result.
"""
from __future__ import annotations

import argparse
import math
import statistics
import time

import torch
import torch.nn.functional as F

from benchmarks.common import machine
from benchmarks.textbook import TextbookGRL
from dann_core import config as config_io
from dann_core.metrics import RunningMeans
from dann_core.train import Trainer

WORKLOADS = {
    "moons": {"dataset": "moons"},
    "digits": {"dataset": "digits-blend"},
    "resnet18": {"dataset": "digits-blend", "backbone": "resnet18"},
}
"""Workload → run flags (each dataset's recommendations choose the rest: moons/MLP, digits-blend/LeNet;
resnet18: torchvision's ResNet-18, random init, on digits-blend's 3×28×28 images)."""
VARIANTS = {
    "eager": {},
    "compile": {"compile": True},
    "bf16": {"precision": "bf16"},
}


class TextbookDANN:
    """The plain loop over (deep copies of) the trainer's freshly built networks."""

    def __init__(self, trainer: Trainer, variant: dict) -> None:
        cfg, model = trainer.config, trainer.algorithm.model
        self.device, self.cfg = trainer.device, cfg
        self.backbone, self.classifier, self.discriminator = (_copy(m) for m in (model.backbone, model.classifier, model.discriminator))
        modules = torch.nn.ModuleList([self.backbone, self.classifier, self.discriminator])
        self.optimizer = torch.optim.SGD(modules.parameters(), lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
        if variant.get("compile"):
            for m in modules:
                m.compile()
        self.autocast = torch.bfloat16 if variant.get("precision") == "bf16" else None
        data = trainer.data
        self.xs, self.ys = data.source_train.x.to(self.device), data.source_train.y.to(self.device)
        self.xt = data.target_train.x.to(self.device)
        self.generator = torch.Generator(device=self.device).manual_seed(cfg.seed)
        self.step_count, self.label_loss_sum = 0, 0.0

    def step(self) -> None:
        cfg, n = self.cfg, self.cfg.batch_size
        p = min(self.step_count / cfg.steps, 1.0)
        lambd = 2.0 / (1.0 + math.exp(-10.0 * p)) - 1.0
        for group in self.optimizer.param_groups:
            group["lr"] = cfg.lr / (1.0 + 10.0 * p) ** 0.75
        si = torch.randint(len(self.xs), (n,), device=self.device, generator=self.generator)
        ti = torch.randint(len(self.xt), (n,), device=self.device, generator=self.generator)
        xs, ys, xt = self.xs[si], self.ys[si], self.xt[ti]
        with torch.autocast(self.device.type, dtype=self.autocast, enabled=self.autocast is not None):
            features = self.backbone(torch.cat([xs, xt]))
            logits = self.classifier(features[:n])
            label_loss = F.cross_entropy(logits, ys)
            domain_logits = self.discriminator(TextbookGRL.apply(features, torch.tensor(lambd, device=self.device))).squeeze(1)
            domain_labels = torch.cat([torch.zeros(n, device=self.device), torch.ones(n, device=self.device)])
            domain_loss = F.binary_cross_entropy_with_logits(domain_logits.float(), domain_labels)
            loss = label_loss + domain_loss
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        train_acc = (logits.argmax(1) == ys).float().mean()  # noqa: F841  (a separate accuracy, as logged)
        domain_acc = ((domain_logits > 0).float() == domain_labels).float().mean()  # noqa: F841
        self.label_loss_sum += label_loss.item()
        self.step_count += 1


def _copy(module: torch.nn.Module) -> torch.nn.Module:
    import copy

    return copy.deepcopy(module)


def dann_stepper(trainer: Trainer):
    means, algorithm = RunningMeans(), trainer.algorithm

    def step() -> None:
        metrics = algorithm.update(trainer.next_batch())
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
    textbook = TextbookDANN(trainer, VARIANTS[variant])
    sides = {"dann": dann_stepper(trainer), "textbook": textbook.step}
    for step in sides.values():  # warm-up: compilation, allocation
        chunk_seconds(step, args.warmup, trainer.device)
    samples = {name: [] for name in sides}
    for _ in range(args.rounds):
        for name, step in sides.items():
            samples[name].append(chunk_seconds(step, args.steps, trainer.device))
    trainer.algorithm.check_finite()
    rates = {name: args.steps / statistics.median(s) for name, s in samples.items()}
    return {"batch": cfg.batch_size, "backbone": cfg.backbone, **rates}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=40, help="steps per timed chunk")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved chunks per side")
    parser.add_argument("--warmup", type=int, default=10, help="untimed steps per side first")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads for both sides")
    parser.add_argument("--only", default=",".join(WORKLOADS), help=f"comma list of {', '.join(WORKLOADS)}")
    parser.add_argument("--variants", default=",".join(VARIANTS), help=f"comma list of {', '.join(VARIANTS)}")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"# bench_train on {machine()}, device {args.device}, torch {torch.__version__}; {args.rounds} rounds x {args.steps} steps, interleaved")
    print(f"{'workload':<10} {'variant':<8} {'batch':>5} {'dann steps/s':>13} {'textbook steps/s':>17} {'dann/textbook':>14} {'vs textbook eager':>18}")
    for workload in args.only.split(","):
        eager_textbook = None
        for variant in args.variants.split(","):
            r = bench(workload, variant, args)
            eager_textbook = r["textbook"] if variant == "eager" else eager_textbook
            versus = f"{r['dann'] / eager_textbook:.2f}x" if eager_textbook else "-"
            print(f"{workload:<10} {variant:<8} {r['batch']:>5} {r['dann']:>13.1f} {r['textbook']:>17.1f} {r['dann'] / r['textbook']:>13.2f}x {versus:>18}", flush=True)


if __name__ == "__main__":
    main()
