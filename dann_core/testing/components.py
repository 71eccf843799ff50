"""The contract checks of the component kinds other than methods: dataset, backbone, discriminator,
selector and logger. Each builds the component through the registry (as a run does), validates what
the factory returns, trains a tiny run with it and returns what it built."""
from __future__ import annotations

import math
from pathlib import Path

from .core import CHECK_STEPS, TINY_SETTINGS, build, guard, registry_or_default, require, scratch_dir, tiny_config, train_tiny

__all__ = ["check_backbone", "check_dataset", "check_discriminator", "check_logger", "check_selector"]


def check_dataset(name: str, options: dict | None = None, registry=None, seed: int = 0):
    """Build dataset ``name`` twice (same seed: same tensors), check its splits, train on it; returns it."""
    from ..specs import DomainData

    registry = registry_or_default(registry)
    data = build(registry, "dataset", name, options, seed=seed)
    where = f"dataset '{name}'"
    require(data.num_classes >= 2, f"{where} has num_classes={data.num_classes}, expected at least 2")
    for split_name in ("source_train", "source_val", "target_train", "target_test"):
        split = getattr(data, split_name)
        _check_split(f"{where} {split_name}", split, data, labelled=split_name != "target_train")
    require(len(data.source_train) > 0 and len(data.target_train) > 0, f"{where} has an empty source_train or target_train")
    again = build(registry, "dataset", name, options, seed=seed)
    for split_name in ("source_train", "target_train"):
        a, b = getattr(data, split_name), getattr(again, split_name)
        xa, xb = _first_rows(a.x), _first_rows(b.x)
        require(a.x.shape == b.x.shape and bool((xa == xb).all()),
                f"{where} {split_name} differs between two builds with seed {seed}; a dataset must be deterministic for a seed")
    train_tiny(registry, where, dataset=name, dataset_options=dict(options or {}))
    assert isinstance(data, DomainData)
    return data


def check_backbone(name: str, options: dict | None = None, registry=None, dataset: str = "moons", dataset_options: dict | None = None):
    """Build backbone ``name`` for ``dataset``'s inputs, check its features and default head (and, when it
    declares them, that ``pretrained_parameters()`` are its own and ``input_normalization`` is a name), train it."""
    from ..plugins.contracts import backbone_output_problem

    registry = registry_or_default(registry)
    data_options = _dataset_options(dataset, dataset_options)
    data = build(registry, "dataset", dataset, data_options, seed=0)
    backbone = build(registry, "backbone", name, options, input_shape=tuple(data.input_shape))
    head = backbone.default_head(data.num_classes)
    problem = backbone_output_problem(backbone, head, data.source_train.x[:2], data.num_classes)
    require(problem is None, f"backbone '{name}' {problem}")
    train_tiny(registry, f"backbone '{name}'", backbone=name, backbone_options=dict(options or {}), dataset=dataset, dataset_options=data_options)
    return backbone


def check_discriminator(name: str, options: dict | None = None, registry=None, in_features: int = 16):
    """Build discriminator ``name`` for 2 and 3 domains, check its logits' shapes, train dann with it."""
    import torch

    registry = registry_or_default(registry)
    built = None
    for domains, width in ((2, 1), (3, 3)):
        built = build(registry, "discriminator", name, options, in_features=in_features, num_domains=domains)
        logits = built(torch.randn(5, in_features))
        require(
            isinstance(logits, torch.Tensor) and tuple(logits.shape) == (5, width),
            f"discriminator '{name}' with num_domains={domains} maps (5, {in_features}) features to "
            f"{tuple(getattr(logits, 'shape', ())) or type(logits).__name__}, expected (5, {width})",
        )
    train_tiny(registry, f"discriminator '{name}'", discriminator=name, discriminator_options=dict(options or {}), method="dann")
    return built


def check_selector(name: str, options: dict | None = None, registry=None):
    """Build selector ``name``, check its flags, score a tiny trained checkpoint (None or a finite number)."""
    from ..selection import Candidate, SelectionData
    from ..train import fit

    registry = registry_or_default(registry)
    where = f"selector '{name}'"
    selector = build(registry, "selector", name, options)
    for flag in ("higher_is_better", "per_eval", "across_runs", "set_level"):
        require(isinstance(getattr(selector, flag, None), bool), f"{where} has {flag}={getattr(selector, flag, None)!r}, expected True or False")
    require(not (selector.set_level and selector.per_eval),
            f"{where} is set_level and per_eval; a set-level selector scores when the set is complete (per_eval = False)")
    cfg = tiny_config(steps=CHECK_STEPS, eval_every=CHECK_STEPS)
    run = guard(where, lambda: fit(cfg, registry=registry))
    candidate = Candidate(run.step, run.method, SelectionData.of(run.data, cfg.seed), "cpu", cfg, registry)
    if selector.set_level:  # a set of two: the same checkpoint twice
        scores = guard(where, lambda: selector.score_all([candidate, Candidate(run.step, run.method, candidate.data, "cpu", cfg, registry)]))
        require(isinstance(scores, list) and len(scores) == 2, f"{where}: score_all of 2 candidates returned {scores!r}, expected a list of 2 scores")
    else:
        scores = [guard(where, lambda: selector.score(candidate))]
    for score in scores:
        require(score is None or (isinstance(score, (int, float)) and math.isfinite(float(score))),
                f"{where} scored {score!r}, expected None or a finite number")
    return selector


def check_logger(name: str, options: dict | None = None, registry=None):
    """Build logger ``name`` in a scratch run directory, log, resume and close it, then train with ``--log name``."""
    from ..train import train

    registry = registry_or_default(registry)
    where = f"logger '{name}'"
    with scratch_dir() as tmp:
        run_dir = Path(tmp) / "direct"
        run_dir.mkdir()
        logger = build(registry, "logger", name, options, run_dir=run_dir)
        require(not any(run_dir.iterdir()), f"{where} wrote files when it was built; write at the first log(record)")
        for step in (1, 2):
            guard(where, lambda: logger.log({"step": step, "label_loss": 0.5, "source_val_acc": 0.75, "selectors": {"last": float(step)}}))
        for method in ("resume", "close"):
            if callable(getattr(logger, method, None)):
                guard(where, lambda: getattr(logger, method)(*([1] if method == "resume" else [])))
        cfg = tiny_config(steps=CHECK_STEPS, eval_every=2, log=name)
        guard(where, lambda: train(cfg, Path(tmp) / "run", registry=registry))
    return logger


def _first_rows(x, n: int = 8):
    """The first rows of ``x`` as a tensor (a LazyRows is read for them; the rest stays unread)."""
    return x[: min(n, len(x))]


def _check_split(where: str, split, data, labelled: bool) -> None:
    import torch

    from ..rows import LazyRows

    lazy = isinstance(split.x, LazyRows)
    require(lazy or (isinstance(split.x, torch.Tensor) and split.x.is_floating_point()),
            f"{where}.x is {type(split.x).__name__}, expected a float tensor or a dann_core.rows.LazyRows")
    require(tuple(split.x.shape[1:]) == tuple(data.input_shape),
            f"{where}.x has rows of shape {tuple(split.x.shape[1:])}, but input_shape is {tuple(data.input_shape)}")
    if lazy and len(split):
        rows = _first_rows(split.x, 2)
        require(rows.is_floating_point() and tuple(rows.shape[1:]) == tuple(data.input_shape),
                f"{where}.x (LazyRows) reads rows of {rows.dtype} {tuple(rows.shape[1:])}, expected float rows of shape {tuple(data.input_shape)}")
    if split.y is None:
        require(not labelled or len(split) == 0, f"{where} has no labels (y is None)")
        return
    require(split.y.dtype == torch.int64 and split.y.shape == (len(split),),
            f"{where}.y is {split.y.dtype} of shape {tuple(split.y.shape)}, expected int64 of shape ({len(split)},)")
    if len(split):
        low, high = int(split.y.min()), int(split.y.max())
        require(0 <= low and high < data.num_classes, f"{where}.y holds labels {low}..{high}, expected 0..{data.num_classes - 1}")


def _dataset_options(dataset: str, options: dict | None) -> dict:
    if options is not None:
        return dict(options)
    return dict(TINY_SETTINGS["dataset_options"]) if dataset == "moons" else {}

