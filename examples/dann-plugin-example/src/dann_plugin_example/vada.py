"""``vada``: DANN plus virtual adversarial training on the target, after VADA (Shu, Bui, Narui &
Ermon, "A DIRT-T Approach to Unsupervised Domain Adaptation", ICLR 2018).

A step with more than one forward pass, written against the public API only
(:class:`dann_core.methods.DomainAdversarial`, :func:`~dann_core.methods.full_precision`,
:func:`~dann_core.methods.frozen_bn_stats`). With p(x) = softmax(h(f(x))) and p̂ = p(x_t), a constant:

    r    = ε · g / ‖g‖₂,  g = ∇_d KL(p̂ ‖ p(x_t + d)) at d = ξ·u, u ~ N(0, I)   (per row)
    VAT  = mean_t KL(p̂ ‖ p(x_t + r))
    H    = mean_t −Σ_c p(x_t)_c log p(x_t)_c
    loss = DANN's loss + vat_weight · VAT + entropy_weight · H

The three extra forwards (p̂, the probe at x_t + d with ``torch.autograd.grad``, and x_t + r) run on
the target rows alone, in float32 even under ``--precision bf16``, and leave batch-norm running
statistics untouched, so evaluation sees only the statistics of DANN's forward. p̂ is computed there
rather than taken from DANN's forward so that the KL is 0 at d = 0 (same precision, same batch
statistics): its gradient at the tiny probe ξ is then the power-iteration step of VAT, not the
rounding difference between a bfloat16 and a float32 forward (a ξ of 1e-6 vanishes in bfloat16).
The noise u comes from torch's global generator, which the checkpoint holds: a resumed run repeats
the same perturbations.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from dann_core.methods import DomainAdversarial, MethodContext, frozen_bn_stats, full_precision


def kl_from_logits(reference: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """mean over rows of KL(reference ‖ softmax(logits)); ``reference`` is a probability matrix."""
    return F.kl_div(F.log_softmax(logits, dim=1), reference, reduction="batchmean")


def unit_rows(x: torch.Tensor) -> torch.Tensor:
    """Each row of ``x`` (any trailing shape) scaled to L2 norm 1 (a zero row stays zero)."""
    return F.normalize(x.flatten(1), dim=1).view_as(x)


class VADA(DomainAdversarial):
    """DANN plus a virtual adversarial (VAT) smoothness term on the target and, optionally, the target's
    conditional entropy (VADA's L_v and L_c).

    Options:
      lambda: GRL factor λ: 'schedule' (the paper's ramp) or a number ≥ 0.
      gamma: γ of the λ schedule.
      vat_weight: weight of the VAT term on the target (VADA's λ_t).
      vat_radius: ε, the L2 norm of each row's adversarial perturbation, in input units (VADA uses 3.5 on
        normalised 32×32×3 images; inputs of a few features, like moons', need far less).
      vat_xi: ξ, the norm of the probe perturbation whose gradient gives the adversarial direction.
      entropy_weight: weight of the mean entropy of the target predictions (VADA sets it to λ_t; 0: off).
      plus: further regularisers (e.g. 'mcc').
    """

    def __init__(self, context: MethodContext, lambda_: str = "schedule", gamma: float = 10.0, vat_weight: float = 1.0,
                 vat_radius: float = 0.5, vat_xi: float = 1e-6, entropy_weight: float = 0.0, plus: str = "",
                 **regularizer_options) -> None:
        super().__init__(context, lambda_=lambda_, gamma=gamma, plus=plus, **regularizer_options)
        for name, value in (("vat_weight", vat_weight), ("entropy_weight", entropy_weight)):
            if not value >= 0:
                raise ValueError(f"vada: {name} must be ≥ 0, got {value}")
        for name, value in (("vat_radius", vat_radius), ("vat_xi", vat_xi)):
            if not value > 0:
                raise ValueError(f"vada: {name} must be > 0, got {value}")
        self.vat_weight, self.vat_radius, self.vat_xi = float(vat_weight), float(vat_radius), float(vat_xi)
        self.entropy_weight = float(entropy_weight)

    def adversarial_perturbation(self, x: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
        """r: per row of ``x``, the direction of a probe perturbation that most increases
        KL(reference ‖ p(x + d)), scaled to ``vat_radius``. Call it in full precision with frozen statistics."""
        d = (self.vat_xi * unit_rows(torch.randn_like(x))).requires_grad_()
        divergence = kl_from_logits(reference, self.model(x + d))
        grad, = torch.autograd.grad(divergence, d)  # a graph of its own: the engine never backpropagates it
        return self.vat_radius * unit_rows(grad.detach())

    def vat_loss(self, target_x: torch.Tensor) -> torch.Tensor:
        """VAT on the target rows: KL between the clean predictions (a constant) and those at x + r."""
        with full_precision(), frozen_bn_stats(self.model):
            x = target_x.float()  # the batch may come in another dtype; the perturbation must be float32
            with torch.no_grad():
                reference = F.softmax(self.model(x), dim=1)
            r = self.adversarial_perturbation(x, reference)
            return kl_from_logits(reference, self.model(x + r))

    def objective(self, batch):
        step = self.forward_step(batch)  # DANN's forward, under the run's autocast
        loss, metrics = self.dann_loss(step)
        vat = self.vat_loss(batch.target_x)
        loss = loss + self.vat_weight * vat
        metrics["vat_loss"] = vat.detach()
        if self.entropy_weight > 0:
            target_logits = step.target_logits()
            p = F.softmax(target_logits.float(), dim=1)
            entropy = -(p * F.log_softmax(target_logits.float(), dim=1)).sum(dim=1).mean()
            loss = loss + self.entropy_weight * entropy
            metrics["target_entropy"] = entropy.detach()
        return self.regularize(step, loss, metrics)
