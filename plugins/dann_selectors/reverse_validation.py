"""Reverse validation (Zhong et al. 2010; Ganin et al., JMLR 2016, §5.1.2): a score for choosing
hyper-parameters and checkpoints without any target label. One path: :func:`reverse_risk`, which the
``reverse-val`` selector calls for each kept checkpoint of a run, and which ``dann sweep`` (its default
selector) therefore uses to compare configurations.

For a candidate checkpoint η of a run:

1. Label the run's unlabelled target inputs T with η (pseudo-labels) and split them 90/10 (seeded
   by the dataset seed).
2. Train the reverse classifier η_r with the run's own config (its method, λ, lr, ...; ``steps``
   steps) on the pseudo-labelled T₉₀ as its source, with the source training inputs S as its
   unlabelled target; η_r keeps its checkpoint by its accuracy on the pseudo-labelled T₁₀.
3. The reverse validation risk is η_r's error on the labelled source validation split (never seen
   by η's or η_r's training). Lower is better.

The paper splits S 90/10 and retrains η on S₉₀ for each configuration; here η is the run itself and
the dataset's source_val plays S₁₀, so a sweep trains each configuration once (plus the reverse
models) and the run directory is an ordinary one. No target label is read.
"""
from __future__ import annotations

import dataclasses

import torch

from dann_core.rows import batches, take
from dann_core.specs import DomainData, Split

HOLDOUT = 0.1
"""Share of source and of target held out (the paper's 90/10 split)."""
INNER_SELECTOR = "source-val"
"""How η and η_r pick their own checkpoints: on their held-out (pseudo-)labelled source, as in the paper."""


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
        select=INNER_SELECTOR, select_options={}, score="", out=None,  # the run's --score would only cost time here
    )
    reverse = fit(reverse_config, data=reverse_data, registry=candidate.registry)
    predictions = _predict_labels(reverse.model, data.source_val.x)
    return 1.0 - float((predictions == data.source_val.y).float().mean())
