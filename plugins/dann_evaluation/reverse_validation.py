"""Reverse validation (Zhong et al. 2010; Ganin et al., JMLR 2016, §5.1.2): a score for choosing
hyper-parameters without any target label.

1. Split the labelled source sample S and the unlabelled target sample T 90/10 (seeded).
2. Train η with the candidate hyper-parameters on S₉₀ (labelled) and T₉₀ (unlabelled); its model
   selection uses the dataset's own source_val, never a target label.
3. Label T₉₀ with η (and T₁₀, which the reverse run uses as its held-out "source" validation).
4. Train the reverse classifier η_r with the same hyper-parameters on the pseudo-labelled T₉₀ as its
   source and S₉₀ as its unlabelled target.
5. The reverse validation risk is η_r's error on S₁₀ (true source labels). Lower is better. η_r's
   cross-entropy on S₁₀ is returned too; sweeps use it to break ties of the risk.

η's target test accuracy is returned too, marked as reported only: nothing here selects on it.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import torch

from dann_core.config import RunConfig
from dann_core.rows import batches, take
from dann_core.specs import DomainData, Split

HOLDOUT = 0.1
"""Share of source and of target held out (the paper's 90/10 split)."""
INNER_SELECTOR = "source-val"
"""How η and η_r pick their own checkpoints: on their held-out (pseudo-)labelled source, as in the paper."""


@dataclass
class ReverseValidationResult:
    """``risk``: η_r's error on the held-out source 10% (the score; lower is better).

    ``reverse_loss``: η_r's mean cross-entropy on the same points; a finer score that breaks ties of
    ``risk``, which takes few distinct values on small held-out sets (30 points on default moons).

    ``forward_source_val_acc``: η's accuracy on the dataset's source_val (its own model selection).
    ``target_test_acc``: η's target test accuracy: REPORTED ONLY, never used for selection.
    ``pseudo_label_agreement``: None, or (when target_train has labels) the share of T₉₀ that η
    labelled correctly: a diagnostic, also reported only.
    """

    risk: float
    reverse_accuracy: float
    reverse_loss: float
    forward_source_val_acc: float | None
    target_test_acc: float | None
    pseudo_label_agreement: float | None
    n_source_holdout: int
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def split_holdout(n: int, fraction: float, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Random (kept, held-out) index tensors; at least one row on each side."""
    if n < 2:
        raise ValueError(f"reverse validation needs at least 2 rows per domain, got {n}")
    n_out = min(max(1, round(n * fraction)), n - 1)
    order = torch.randperm(n, generator=generator)
    return order[n_out:], order[:n_out]


@torch.no_grad()
def _logits(model: torch.nn.Module, x: torch.Tensor, batch_size: int = 1024) -> torch.Tensor:
    model.eval()
    device = next(model.parameters()).device
    with torch.no_grad():
        return torch.cat([model(batch).float().cpu() for batch in batches(x, batch_size, device)])


def _predict_labels(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    return _logits(model, x).argmax(dim=1)


def reverse_validation(
    config: RunConfig, data: DomainData | None = None, holdout: float = HOLDOUT, seed: int | None = None, registry=None
) -> ReverseValidationResult:
    """The reverse validation risk of the hyper-parameters in ``config`` (lower is better).

    Args:
        config: the candidate run config (a method that trains on target labels is refused).
        data: the dataset; None builds ``config.dataset`` with ``config.seed``.
        holdout: share of source and target held out (the paper: 0.1).
        seed: seed of the 90/10 split (default: ``config.seed``).
        registry: the plugin registry (default: the installed plugins).
    """
    import time

    from dann_core.plugins import get_registry
    from dann_core.train import fit
    from .sweep import uses_target_labels

    registry = registry if registry is not None else get_registry()
    config = dataclasses.replace(config, select=INNER_SELECTOR, select_options={})
    if uses_target_labels(registry, config.method):
        raise ValueError(f"reverse validation selects without target labels; method {config.method} trains on them")
    if not 0.0 < holdout < 1.0:
        raise ValueError(f"holdout must be in (0, 1), got {holdout}")
    started = time.perf_counter()
    if data is None:
        from dann_core.train import build_dataset

        data = build_dataset(config, registry)
    generator = torch.Generator().manual_seed(config.seed if seed is None else seed)
    s_keep, s_out = split_holdout(len(data.source_train), holdout, generator)
    t_keep, t_out = split_holdout(len(data.target_train), holdout, generator)
    source, target = data.source_train, data.target_train

    forward_data = dataclasses.replace(
        data,
        source_train=Split(take(source.x, s_keep), source.y[s_keep]),
        target_train=Split(take(target.x, t_keep), None),  # never seen by dann / source-only, dropped to be sure
        domains=data.domains[s_keep] if data.domains is not None else None,
    )
    forward = fit(config, data=forward_data, registry=registry)
    pseudo_keep = _predict_labels(forward.model, take(target.x, t_keep))
    pseudo_out = _predict_labels(forward.model, take(target.x, t_out))

    reverse_data = DomainData(
        source_train=Split(take(target.x, t_keep), pseudo_keep),
        source_val=Split(take(target.x, t_out), pseudo_out),
        target_train=Split(take(source.x, s_keep), None),
        target_test=Split(take(source.x, s_out), source.y[s_out]),
        num_classes=data.num_classes,
        input_shape=data.input_shape,
        class_names=data.class_names,
    )
    reverse = fit(config, data=reverse_data, registry=registry)
    reverse_logits = _logits(reverse.model, take(source.x, s_out))
    reverse_acc = int((reverse_logits.argmax(dim=1) == source.y[s_out]).sum()) / len(s_out)
    reverse_loss = float(torch.nn.functional.cross_entropy(reverse_logits, source.y[s_out]))
    agreement = int((pseudo_keep == target.y[t_keep]).sum()) / len(t_keep) if target.y is not None else None
    summary = forward.summary or {}
    return ReverseValidationResult(
        risk=1.0 - reverse_acc,
        reverse_accuracy=reverse_acc,
        reverse_loss=reverse_loss,
        forward_source_val_acc=summary.get("best_source_val_acc"),
        target_test_acc=summary.get("target_test_acc"),
        pseudo_label_agreement=agreement,
        n_source_holdout=len(s_out),
        seconds=round(time.perf_counter() - started, 3),
    )


def reverse_risk(candidate, steps: int = 0) -> float:
    """Reverse validation of one checkpoint: its pseudo-labels on the target inputs train the run's
    config back from target to source (``steps`` steps; 0: the run's), whose error on the labelled
    source validation split is the risk. Uses no target label."""
    from dann_core.train import fit

    data, config = candidate.data, candidate.config
    pseudo = candidate.logits(data.target_x).argmax(dim=1)
    keep, out = split_holdout(len(data.target_x), HOLDOUT, torch.Generator().manual_seed(data.seed))
    reverse_data = DomainData(
        source_train=Split(take(data.target_x, keep), pseudo[keep]),
        source_val=Split(take(data.target_x, out), pseudo[out]),
        target_train=Split(data.source_train.x, None),
        target_test=Split(data.source_val.x, data.source_val.y),
        num_classes=data.num_classes,
        input_shape=tuple(data.target_x.shape[1:]),
    )
    reverse_config = dataclasses.replace(
        config, steps=steps or config.steps, eval_every=min(config.eval_every, steps or config.steps),
        select=INNER_SELECTOR, select_options={}, out=None,
    )
    reverse = fit(reverse_config, data=reverse_data, registry=candidate.registry)
    predictions = _predict_labels(reverse.model, data.source_val.x)
    return 1.0 - float((predictions == data.source_val.y).float().mean())
