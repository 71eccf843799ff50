"""Figures of a run, as PNG files (matplotlib, Agg backend), written to ``RUN_DIR/plots/``.

- ``embedding_pca.png`` / ``embedding_tsne.png``: source vs target samples before adaptation (the
  raw inputs, or the features of a ``baseline`` run such as source-only) and after (the run's
  learned features), coloured by domain and marked by class (JMLR 2016, Figures 2-3 style).
- ``boundary.png`` (2-D inputs only, e.g. moons): the label decision boundary and the domain
  classifier's boundary over the input plane, with source and target points (JMLR 2016, Figure 2).
- ``curves.png``: label loss, domain loss, domain accuracy, λ, source-val and target accuracy
  against the step, from metrics.jsonl.

The drawing of each figure is :mod:`dann_evaluation.figures`; this module picks the run's points,
loads its networks and says how the slow steps go. t-SNE runs on at most ``max_points`` points (half per domain), so plots stay fast; the slow steps
(loading the run, each embedding figure) are announced through ``progress`` once they have run
:data:`QUIET_SECONDS`, and repeated every :data:`PROGRESS_SECONDS` while they run, so ``dann plot`` is
never silent for long on a busy machine and a quick one prints nothing extra.
"""
from __future__ import annotations

import contextlib
import threading
import time
from pathlib import Path
from typing import Callable, Iterator

# the drawing of each figure lives in .figures; its public names stay importable from here
from .figures import CURVES, MARKERS, SOURCE_COLOUR, TARGET_COLOUR, plot_boundaries, plot_curves, plot_embedding, subsample

__all__ = ["CURVES", "DEFAULT_MAX_POINTS", "FIGURES", "MARKERS", "PROGRESS_SECONDS", "QUIET_SECONDS", "SOURCE_COLOUR", "TARGET_COLOUR",
           "plot_boundaries", "plot_curves", "plot_embedding", "plot_run"]

DEFAULT_MAX_POINTS = 1000
PROGRESS_SECONDS = 10.0
"""Longest silence of a slow step: a line saying it still runs comes at least this often."""


QUIET_SECONDS = 2.0
"""A slow step says nothing if it ends within this many seconds (a quick plot, or an error, stays one line)."""


@contextlib.contextmanager
def _announced(progress: Callable[[str], None] | None, what: str, every: float | None = None,
               quiet_for: float | None = None) -> Iterator[None]:
    """Once ``what`` has run ``quiet_for`` seconds, say it runs, then again every ``every`` seconds,
    and at the end how long it took; a step quicker than ``quiet_for`` prints nothing."""
    if progress is None:
        yield
        return
    every = PROGRESS_SECONDS if every is None else every
    quiet_for = QUIET_SECONDS if quiet_for is None else quiet_for
    started, stop, said = time.perf_counter(), threading.Event(), []

    def beat() -> None:
        if stop.wait(quiet_for):
            return
        said.append(True)
        progress(f"{what} ...")
        while not stop.wait(every):
            progress(f"{what}: still running after {time.perf_counter() - started:.0f} s")

    beating = threading.Thread(target=beat, daemon=True)
    beating.start()
    try:
        yield
    finally:
        stop.set()
        beating.join()
    if said:
        progress(f"{what}: done in {time.perf_counter() - started:.1f} s")


FIGURES = ("embedding_pca.png", "embedding_tsne.png", "boundary.png", "curves.png")
"""The files :func:`plot_run` writes."""


def plot_run(
    run_dir: str | Path,
    checkpoint: str = "best",
    out: str | Path | None = None,
    tsne: bool = True,
    baseline: str | Path | None = None,
    max_points: int = DEFAULT_MAX_POINTS,
    seed: int = 0,
    notice: Callable[[str], None] | None = print,
    registry=None,
    progress: Callable[[str], None] | None = None,
) -> list[Path]:
    """Every figure of a run; returns the written paths (default directory: ``RUN_DIR/plots``).

    ``baseline``: a run directory (e.g. source-only on the same data) whose features are drawn as
    "before adaptation" instead of the raw inputs. ``notice`` receives one-line messages about
    figures that are skipped (e.g. the boundary plot for inputs that are not 2-D); ``progress``
    (when given) one line as each slow step starts and ends, and one every :data:`PROGRESS_SECONDS`
    while it runs.
    """
    from dann_core.metrics import MetricsLog
    from dann_core.train import load_run
    from .pad import extract_features

    run_dir = Path(run_dir)
    if out is None:  # inside the run directory: never through a link (files.refuse_links); checked first
        from dann_core import files

        out = run_dir / "plots"
        for name in ("", *FIGURES):
            files.refuse_links(out / name, run_dir)
    with _announced(progress, f"loading {run_dir} ({checkpoint}.pt) and its data"):
        run = load_run(run_dir, checkpoint, registry=registry)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    notice = notice or (lambda message: None)
    written: list[Path] = []

    data = run.data
    half = max(1, max_points // 2)
    si, ti = subsample(len(data.source_train), half, seed), subsample(len(data.target_train), half, seed + 1)
    xs, xt = data.source_train.x[si], data.target_train.x[ti]
    ys = data.source_train.y[si].numpy()
    yt = data.target_train.y[ti].numpy() if data.target_train.y is not None else None
    if baseline is not None:
        base = load_run(baseline, checkpoint, registry=registry)
        before = (f"before adaptation: features of {base.config.method} ({Path(baseline).name})",
                  extract_features(base.model, xs), extract_features(base.model, xt))
    else:
        before = ("before adaptation: raw inputs", xs.numpy(), xt.numpy())
    after = (f"after: features of {run.config.method}, step {run.step}", extract_features(run.model, xs), extract_features(run.model, xt))
    methods = ["pca", "tsne"] if tsne else ["pca"]
    for method in methods:
        name = {"pca": "PCA", "tsne": "t-SNE"}[method]
        with _announced(progress, f"embedding_{method}.png: {name} of 2 panels x {len(xs) + len(xt)} points"):
            written.append(plot_embedding([before, after], (ys, yt), out / f"embedding_{method}.png", method, seed, data.class_names))

    if tuple(data.input_shape) == (2,):
        written.append(plot_boundaries(run, out / "boundary.png", seed=seed))
    else:
        notice(f"skipped boundary.png: dataset '{run.config.dataset}' has inputs of shape {tuple(data.input_shape)}, not 2-D points")

    records = MetricsLog(run_dir / "metrics.jsonl").read()
    if records:
        title = f"{run.config.method} on {run.config.dataset} (seed {run.config.seed})"
        written.append(plot_curves(records, out / "curves.png", title))
    else:
        notice(f"skipped curves.png: {run_dir / 'metrics.jsonl'} has no records")
    return written
