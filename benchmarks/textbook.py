"""What users write today without dann: the tllib-style gradient reversal layer, the paper's networks and a
plain DANN loop (the baselines of bench_train, the kernel benchmarks and bench_e2e's plain script).

Nothing here imports dann: benchmarks/e2e_plain.py times it as a whole process.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class TextbookGRL(torch.autograd.Function):
    """Identity forward; backward ``grad.neg() * λ`` (tllib's GradientReverseFunction)."""

    @staticmethod
    def forward(ctx, x, lambd):
        ctx.save_for_backward(lambd)
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad):
        (lambd,) = ctx.saved_tensors
        return grad.neg() * lambd, None


def textbook_grl_backward(grad: torch.Tensor, lambd: torch.Tensor) -> torch.Tensor:
    return grad.neg() * lambd


def paper_networks(dataset: str, input_shape: tuple[int, ...], num_classes: int) -> tuple[nn.Module, nn.Module, nn.Module]:
    """(backbone, classifier, discriminator) as the papers give them, written out in plain torch:
    moons, the JMLR 2016 toy (15 sigmoid units, a linear label head); digits, the ICML 2015 LeNet
    (conv5×5-32, conv5×5-48, each ReLU + maxpool2; head fc100-fc100-fc). Discriminator: fc100-ReLU-fc1.
    The same layers as dann's ``mlp``/``lenet`` backbones and ``mlp`` discriminator with their defaults
    (tests/project/test_bench_e2e.py compares the parameter shapes)."""
    if dataset == "moons":
        backbone = nn.Sequential(nn.Flatten(), nn.Linear(math.prod(input_shape), 15), nn.Sigmoid())
        features = 15
        classifier: nn.Module = nn.Linear(features, num_classes)
    else:
        backbone = nn.Sequential(
            nn.Conv2d(input_shape[0], 32, kernel_size=5), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 48, kernel_size=5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
        )
        features = backbone(torch.zeros(1, *input_shape)).shape[1]
        classifier = nn.Sequential(nn.Linear(features, 100), nn.ReLU(), nn.Linear(100, 100), nn.ReLU(), nn.Linear(100, num_classes))
    discriminator = nn.Sequential(nn.Linear(features, 100), nn.ReLU(), nn.Linear(100, 1))
    return backbone, classifier, discriminator


class TextbookDANN:
    """The plain loop people write (tllib style): an ``autograd.Function`` gradient reversal,
    ``binary_cross_entropy_with_logits`` on the discriminator's output, accuracies computed separately,
    ``loss.item()`` kept for logging each step as tllib's meters do; batches drawn with ``torch.randint``
    from tensors already on the device; the paper's λ (ramp 2/(1+exp(−γp))−1, or a constant) and
    learning-rate annealing μ0/(1+10p)^0.75, SGD with momentum. ``precision="bf16"``: the forward under
    ``torch.autocast``; ``compile``: ``torch.compile`` of each module."""

    def __init__(self, backbone: nn.Module, classifier: nn.Module, discriminator: nn.Module,
                 source_x: torch.Tensor, source_y: torch.Tensor, target_x: torch.Tensor, *,
                 steps: int, batch_size: int, lr: float, momentum: float = 0.9, weight_decay: float = 0.0,
                 lr_schedule: bool = True, lambda_: str | float = "schedule", gamma: float = 10.0,
                 precision: str = "fp32", compile: bool = False, device: str | torch.device = "cpu", seed: int = 0) -> None:
        self.device = torch.device(device)
        self.backbone, self.classifier, self.discriminator = (m.to(self.device) for m in (backbone, classifier, discriminator))
        modules = nn.ModuleList([self.backbone, self.classifier, self.discriminator])
        self.optimizer = torch.optim.SGD(modules.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay)
        if compile:
            for m in modules:
                m.compile()
        self.autocast = torch.bfloat16 if precision == "bf16" else None
        self.xs, self.ys, self.xt = source_x.to(self.device), source_y.to(self.device), target_x.to(self.device)
        self.generator = torch.Generator(device=self.device).manual_seed(seed)
        self.steps, self.batch_size, self.lr, self.lr_schedule = steps, batch_size, lr, lr_schedule
        self.lambda_, self.gamma = lambda_, gamma
        self.step_count, self.label_loss_sum = 0, 0.0

    def step(self) -> None:
        n = self.batch_size
        p = min(self.step_count / self.steps, 1.0)
        lambd = 2.0 / (1.0 + math.exp(-self.gamma * p)) - 1.0 if self.lambda_ == "schedule" else float(self.lambda_)
        for group in self.optimizer.param_groups:
            group["lr"] = self.lr / (1.0 + 10.0 * p) ** 0.75 if self.lr_schedule else self.lr
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

    @torch.no_grad()
    def accuracy(self, x: torch.Tensor, y: torch.Tensor, batch: int = 1024) -> float:
        """Classification accuracy on (x, y): eval mode, no autograd, batches of ``batch`` rows."""
        modules = (self.backbone, self.classifier)
        for m in modules:
            m.eval()
        correct = 0
        for start in range(0, len(x), batch):
            xb = x[start:start + batch].to(self.device)
            with torch.autocast(self.device.type, dtype=self.autocast, enabled=self.autocast is not None):
                logits = self.classifier(self.backbone(xb))
            correct += int((logits.argmax(1).cpu() == y[start:start + batch]).sum())
        for m in modules:
            m.train()
        return correct / len(x)
