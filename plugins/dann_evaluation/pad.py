"""Proxy A-distance (PAD): how well a linear classifier tells source from target samples.

Ben-David et al. (2007, 2010); Ganin et al., JMLR 2016, §5.1.3::

    d̂_A = 2 (1 − 2ε)

where ε is the held-out error of a classifier trained to separate source samples (label 0) from
target samples (label 1). The procedure follows the authors' code: pool both samples, split each
domain 50/50 into a training and a test half, train a linear SVM for every C in
``logspace(−5, 4, 10)``, and keep the lowest test error, an error above 0.5 counting as 1 − error.
(Choosing C on the test half is the authors' procedure; it biases ε down slightly, i.e. PAD up.)
d̂_A is ≈ 0 for indistinguishable samples and 2 for linearly separable ones.

The classifier is scikit-learn's ``LinearSVC`` on standardised inputs (mean/std of the training half).
"""
from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

C_VALUES: tuple[float, ...] = tuple(float(c) for c in np.logspace(-5, 4, 10))
"""The authors' grid of SVM regularisation constants."""
DEFAULT_MAX_SAMPLES = 1000
"""Samples per domain used by :func:`run_pad` (a random subset when a split is larger)."""
SPLITS = {"train": ("source_train", "target_train"), "test": ("source_val", "target_test")}
"""Which DomainData splits :func:`run_pad` compares: the training inputs or the held-out ones."""


@dataclass
class PADResult:
    """``pad`` = 2(1 − 2·error); ``error`` the best held-out error (folded to ≤ 0.5), ``C`` its SVM C.

    ``errors`` maps each tried C to its (folded) held-out error; ``n_source``/``n_target`` count the
    samples used; ``dim`` is the feature dimension.
    """

    pad: float
    error: float
    C: float
    n_source: int
    n_target: int
    dim: int
    errors: dict[float, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["errors"] = {f"{c:g}": e for c, e in self.errors.items()}
        return out


def _as_matrix(x: Any, name: str) -> np.ndarray:
    import torch

    if isinstance(x, torch.Tensor):
        x = x.detach().float().cpu().numpy()
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim > 2:
        x = x.reshape(x.shape[0], -1)
    if x.shape[0] < 2:
        raise ValueError(f"proxy A-distance: the {name} sample needs at least 2 rows, got {x.shape[0]}")
    if not np.isfinite(x).all():
        raise ValueError(f"proxy A-distance: the {name} sample holds NaN or infinite values")
    return x


def proxy_a_distance(
    source: Any,
    target: Any,
    C_values: Sequence[float] = C_VALUES,
    seed: int = 0,
    max_samples: int | None = None,
    max_iter: int = 2000,
) -> PADResult:
    """The proxy A-distance between two samples (arrays or tensors; rows are samples, any shape).

    Args:
        source, target: (N, ...) samples of the two domains; extra dimensions are flattened.
        C_values: the SVM regularisation constants to try (default: the authors' logspace(−5, 4, 10)).
        seed: seeds the shuffling before the 50/50 split (and the subsampling).
        max_samples: use at most this many rows per domain (a random subset); None uses all.
        max_iter: LinearSVC iteration limit (convergence warnings are silenced: a C that has not
            converged just scores worse, and the best C is kept).

    Returns:
        :class:`PADResult`; ``result.pad`` is d̂_A in [0, 2].
    """
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.svm import LinearSVC

    xs, xt = _as_matrix(source, "source"), _as_matrix(target, "target")
    if xs.shape[1] != xt.shape[1]:
        raise ValueError(f"proxy A-distance: source has {xs.shape[1]} features, target {xt.shape[1]}")
    if not C_values:
        raise ValueError("proxy A-distance: C_values is empty")
    rng = np.random.default_rng(seed)
    xs, xt = xs[rng.permutation(len(xs))], xt[rng.permutation(len(xt))]
    if max_samples is not None:
        xs, xt = xs[:max_samples], xt[:max_samples]
    hs, ht = len(xs) // 2, len(xt) // 2
    x_train = np.vstack([xs[:hs], xt[:ht]])
    y_train = np.concatenate([np.zeros(hs), np.ones(ht)])
    x_test = np.vstack([xs[hs:], xt[ht:]])
    y_test = np.concatenate([np.zeros(len(xs) - hs), np.ones(len(xt) - ht)])
    mean, std = x_train.mean(axis=0), x_train.std(axis=0)
    std[std < 1e-12] = 1.0
    x_train, x_test = (x_train - mean) / std, (x_test - mean) / std
    dual = x_train.shape[0] <= x_train.shape[1]
    errors: dict[float, float] = {}
    for C in C_values:
        clf = LinearSVC(C=float(C), dual=dual, max_iter=max_iter, random_state=seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            clf.fit(x_train, y_train)
        error = float(np.mean(clf.predict(x_test) != y_test))
        errors[float(C)] = min(error, 1.0 - error)
    best_C = min(errors, key=lambda c: (errors[c], c))
    best = errors[best_C]
    return PADResult(
        pad=2.0 * (1.0 - 2.0 * best), error=best, C=best_C, n_source=len(xs), n_target=len(xt), dim=xs.shape[1], errors=errors
    )


def extract_features(model, x, batch_size: int = 1024, device: str = "cpu") -> np.ndarray:
    """``model.backbone(x)`` in eval mode and without gradients, batched; a (N, features) array."""
    import torch

    backbone = getattr(model, "backbone", model)
    was_training = backbone.training
    backbone.eval()
    chunks = []
    try:
        with torch.no_grad():
            for start in range(0, len(x), batch_size):
                chunk = x[start : start + batch_size]
                chunks.append(backbone(chunk.to(device)).reshape(len(chunk), -1).float().cpu())
    finally:
        backbone.train(was_training)
    return torch.cat(chunks).numpy()


def _subsample(x, n: int | None, seed: int):
    import torch

    from dann_core.rows import materialize, take

    if n is None or len(x) <= n:
        return materialize(x)
    g = torch.Generator().manual_seed(seed)
    return materialize(take(x, torch.randperm(len(x), generator=g)[:n]))


def run_pad(
    run_dir: str | Path,
    checkpoint: str = "best",
    split: str = "train",
    max_samples: int | None = DEFAULT_MAX_SAMPLES,
    seed: int = 0,
    baseline: str | Path | None = None,
    write: bool = True,
    registry=None,
) -> dict[str, Any]:
    """PAD of a run: on the raw inputs (before adaptation) and on the checkpoint's learned features.

    Args:
        run_dir: a run directory (config.json and best.pt / last.pt).
        checkpoint: ``best`` or ``last``.
        split: ``train`` compares source_train with target_train (the inputs the run adapted on),
            ``test`` compares source_val with target_test (held-out inputs).
        max_samples: at most this many samples per domain (random subset); None: all.
        seed: seed of the subsampling and of the 50/50 split.
        baseline: another run directory (e.g. the source-only run of the same data) whose features
            are also measured, as the paper's "before adaptation" representation.
        write: store the result in ``run_dir/pad.json`` (summary.json is never changed).

    Returns:
        ``{"raw": {...}, "features": {...}, "baseline": {...} (optional), "checkpoint", "step", "split"}``,
        each entry a :meth:`PADResult.to_dict`.

    Raises:
        dann_core.train.RunError: ``run_dir`` is not a run directory or has no such checkpoint.
        ValueError: a bad ``split`` or ``checkpoint`` name.
    """
    from dann_core import files
    from dann_core.train import load_run

    if split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(SPLITS)}, got '{split}'")
    run_dir = Path(run_dir)
    run = load_run(run_dir, checkpoint, registry=registry)
    source_name, target_name = SPLITS[split]
    xs = _subsample(getattr(run.data, source_name).x, max_samples, seed)
    xt = _subsample(getattr(run.data, target_name).x, max_samples, seed + 1)
    result: dict[str, Any] = {
        "checkpoint": checkpoint,
        "step": run.step,
        "split": f"{source_name} vs {target_name}",
        "raw": proxy_a_distance(xs, xt, seed=seed).to_dict(),
        "features": proxy_a_distance(extract_features(run.model, xs), extract_features(run.model, xt), seed=seed).to_dict(),
    }
    if baseline is not None:
        base = load_run(baseline, checkpoint, registry=registry)
        if tuple(base.data.input_shape) != tuple(run.data.input_shape):
            raise ValueError(f"baseline {baseline} has inputs of shape {base.data.input_shape}, the run {run.data.input_shape}")
        result["baseline"] = {
            "run_dir": str(baseline),
            "method": base.config.method,
            **proxy_a_distance(extract_features(base.model, xs), extract_features(base.model, xt), seed=seed).to_dict(),
        }
    if write:
        files.write_json(result, run_dir / "pad.json")  # its own file: summary.json stays as training wrote it
    return result
