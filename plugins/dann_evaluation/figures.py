"""The figures themselves, drawn with matplotlib (Agg backend) into PNG files: embeddings of source
vs target samples (PCA or t-SNE), the label and domain decision boundaries of a 2-D input run, and the
training curves of metrics.jsonl. :mod:`dann_evaluation.plots` draws a run directory's set of them."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

SOURCE_COLOUR, TARGET_COLOUR = "tab:blue", "tab:red"
MARKERS = ("o", "^", "s", "P", "D", "v", "*", "X", "<", ">")


def _pyplot():
    from dann_core.extras import require

    matplotlib = require("matplotlib", "eval", "dann plot")
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def subsample(n: int, k: int, seed: int) -> np.ndarray:
    """Sorted indices of ``k`` of ``n`` rows drawn with ``seed`` (all ``n`` when ``n <= k``)."""
    if n <= k:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=k, replace=False))


def _embed(x: np.ndarray, method: str, seed: int) -> np.ndarray:
    x = x.reshape(len(x), -1).astype(np.float64)
    if x.shape[1] <= 2 and method == "pca":
        return np.pad(x, ((0, 0), (0, 2 - x.shape[1])))
    if method == "pca":
        from sklearn.decomposition import PCA

        return PCA(n_components=2, random_state=seed).fit_transform(x)
    from sklearn.manifold import TSNE

    if x.shape[1] > 50:  # the usual t-SNE preprocessing: PCA to 50 dimensions first
        from sklearn.decomposition import PCA

        x = PCA(n_components=min(50, len(x)), random_state=seed).fit_transform(x)
    perplexity = float(min(30.0, max(2.0, (len(x) - 1) / 3.0)))
    return TSNE(n_components=2, init="pca", perplexity=perplexity, random_state=seed).fit_transform(x)


def _scatter_domains(ax, points: np.ndarray, domains: np.ndarray, classes: np.ndarray | None, class_names=None) -> None:
    for domain, colour, name in ((0, SOURCE_COLOUR, "source"), (1, TARGET_COLOUR, "target")):
        mask = domains == domain
        if classes is None:
            ax.scatter(points[mask, 0], points[mask, 1], s=10, c=colour, marker="o", alpha=0.6, linewidths=0, label=name)
            continue
        for k in np.unique(classes[mask]):
            sel = mask & (classes == k)
            label = f"{name}, class {class_names[k] if class_names else k}"
            ax.scatter(points[sel, 0], points[sel, 1], s=14, c=colour, marker=MARKERS[int(k) % len(MARKERS)], alpha=0.6, linewidths=0, label=label)


def _legend(fig, classes: np.ndarray | None, class_names: list[str] | None) -> None:
    """One compact legend right of the axes: the two domain colours, then one grey marker per class."""
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], ls="", marker="o", color=c, label=n) for c, n in ((SOURCE_COLOUR, "source"), (TARGET_COLOUR, "target"))]
    if classes is not None:
        for k in np.unique(classes):
            name = class_names[int(k)] if class_names and int(k) < len(class_names) else str(int(k))
            handles.append(Line2D([], [], ls="", marker=MARKERS[int(k) % len(MARKERS)], color="0.35", label=f"class {name}"))
    fig.legend(handles=handles, loc="center right", fontsize=8, frameon=False)


def plot_embedding(
    panels: list[tuple[str, np.ndarray, np.ndarray]],
    classes: tuple[np.ndarray | None, np.ndarray | None],
    path: str | Path,
    method: str = "pca",
    seed: int = 0,
    class_names: list[str] | None = None,
) -> Path:
    """One panel per ``(title, source_rows, target_rows)``, embedded in 2-D by ``pca`` or ``tsne``.

    ``classes`` = (source labels, target labels) per row (None: target unlabelled, drawn as dots).
    """
    if method not in ("pca", "tsne"):
        raise ValueError(f"embedding method must be pca or tsne, got '{method}'")
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels) + 1.5, 5), squeeze=False)
    ys, yt = classes
    for ax, (title, xs, xt) in zip(axes[0], panels):
        points = _embed(np.concatenate([xs.reshape(len(xs), -1), xt.reshape(len(xt), -1)]), method, seed)
        domains = np.concatenate([np.zeros(len(xs), int), np.ones(len(xt), int)])
        labels = None if ys is None or yt is None else np.concatenate([ys, yt])
        _scatter_domains(ax, points, domains, labels, class_names)
        ax.set_title(title, fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(f"{'PCA' if method == 'pca' else 't-SNE'}: source (blue) vs target (red), marker = class")
    fig.tight_layout(rect=(0, 0, 0.86, 1))
    _legend(fig, None if ys is None else np.concatenate([ys, yt if yt is not None else ys]), class_names)
    path = Path(path)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def plot_boundaries(run, path: str | Path, resolution: int = 200, max_points: int = 300, seed: int = 0) -> Path:
    """Label and domain decision boundaries over the plane of a 2-D input run (a TrainedRun)."""
    import torch

    if tuple(run.data.input_shape) != (2,):
        raise ValueError(f"the boundary plot needs 2-D inputs; dataset '{run.config.dataset}' has inputs of shape {tuple(run.data.input_shape)}")
    plt = _pyplot()
    data = run.data
    xs, xt = data.source_train.x.numpy(), data.target_train.x.numpy()
    both = np.concatenate([xs, xt])
    lo, hi = both.min(axis=0), both.max(axis=0)
    pad = 0.15 * (hi - lo)
    gx, gy = np.meshgrid(np.linspace(lo[0] - pad[0], hi[0] + pad[0], resolution), np.linspace(lo[1] - pad[1], hi[1] + pad[1], resolution))
    grid = torch.tensor(np.stack([gx.ravel(), gy.ravel()], axis=1), dtype=data.source_train.x.dtype)
    model = run.model.eval()
    with torch.no_grad():
        features = model.backbone(grid)
        logits = model.classifier(features)
        probs = logits.softmax(dim=1)
        class_map = probs.argmax(dim=1).numpy().reshape(gx.shape)
        domain_logits = run.method.domain_logits(features, logits) if run.method is not None else None
        if domain_logits is None:
            target_prob = torch.full((len(grid),), float("nan"))
        elif domain_logits.shape[1] == 1:
            target_prob = torch.sigmoid(domain_logits[:, 0])
        else:
            target_prob = domain_logits.softmax(dim=1)[:, -1]
        target_prob = target_prob.numpy().reshape(gx.shape)
    si, ti = subsample(len(xs), max_points, seed), subsample(len(xt), max_points, seed + 1)
    ys = data.source_train.y.numpy()[si]
    yt = data.target_train.y.numpy()[ti] if data.target_train.y is not None else None
    fig, (ax_label, ax_domain) = plt.subplots(1, 2, figsize=(12.5, 5))
    ax_label.contourf(gx, gy, class_map, levels=np.arange(data.num_classes + 1) - 0.5, cmap="Pastel1", alpha=0.6)
    ax_label.contour(gx, gy, class_map, levels=np.arange(data.num_classes) + 0.5, colors="k", linewidths=1.5)
    ax_label.set_title("label classifier: decision boundary")
    if np.isnan(target_prob).all():
        ax_domain.set_title(f"no domain classifier ({run.config.method} trains none)")
    else:
        filled = ax_domain.contourf(gx, gy, target_prob, levels=np.linspace(0, 1, 11), cmap="coolwarm", alpha=0.5)
        ax_domain.contour(gx, gy, target_prob, levels=[0.5], colors="k", linewidths=1.5)
        fig.colorbar(filled, ax=ax_domain, label="P(target) from the domain classifier")
        ax_domain.set_title("domain classifier: boundary at P(target) = 0.5")
    for ax in (ax_label, ax_domain):
        _scatter_domains(ax, np.concatenate([xs[si], xt[ti]]), np.concatenate([np.zeros(len(si), int), np.ones(len(ti), int)]),
                         None if yt is None else np.concatenate([ys, yt]), data.class_names)
        ax.set_xlim(gx.min(), gx.max())
        ax.set_ylim(gy.min(), gy.max())
    fig.suptitle(f"{run.config.method} on {run.config.dataset}, step {run.step}: source (blue) vs target (red)")
    fig.tight_layout(rect=(0, 0, 0.87, 1))
    _legend(fig, ys if yt is None else np.concatenate([ys, yt]), data.class_names)
    path = Path(path)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


CURVES = (
    ("losses", (("label_loss", "label loss"), ("domain_loss", "domain loss"))),
    ("domain classifier accuracy", (("domain_acc", "domain acc"),)),
    ("GRL factor λ", (("lambda", "λ"),)),
    ("accuracy", (("source_val_acc", "source val acc"), ("target_test_acc", "target test acc (reported only)"))),
)


def plot_curves(records: list[dict[str, Any]], path: str | Path, title: str = "") -> Path:
    """Training curves from metrics.jsonl records (a missing metric leaves its panel's line out)."""
    if not records:
        raise ValueError("no metrics to plot (metrics.jsonl is empty or missing)")
    plt = _pyplot()
    fig, axes = plt.subplots(2, 2, figsize=(11, 7))
    steps = [r["step"] for r in records]
    for ax, (panel, series) in zip(axes.ravel(), CURVES):
        drawn = False
        for key, label in series:
            values = [r.get(key) for r in records]
            if all(v is None for v in values):
                continue
            ax.plot(steps, [np.nan if v is None else v for v in values], marker=".", label=label)
            drawn = True
        if drawn:
            ax.legend(fontsize=8)
        else:
            ax.text(0.5, 0.5, "not logged by this run", ha="center", va="center", transform=ax.transAxes, color="gray")
        ax.set_title(panel)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
