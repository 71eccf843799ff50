"""Fixtures and one-line contract checks for dann plugin authors; a pytest plugin (entry point ``pytest11``).

Installed with dann, so a plugin package's tests need no conftest::

    from dann_core.testing import check_dataset, registry_with
    import my_plugin

    def test_my_dataset():
        check_dataset("my-data", registry=registry_with(my_plugin))

Each ``check_*`` builds the component through the registry (as a run does), validates what the
factory returns, trains a tiny run with it for a few steps on the CPU and returns what it built. A
broken contract raises :class:`ContractError` (an AssertionError) with one line naming the component.
:func:`check_resume` trains a method to the end, then stopped (as Ctrl-C stops a run) and resumed, and
compares the two exactly: state a step uses that the checkpoint does not hold is caught there.

Fixtures: ``dann_tiny_config`` (a fresh tiny :class:`~dann_core.config.RunConfig` on moons),
``dann_registry`` (``dann_registry(module, ...)``: a registry of the installed first-party plugins
plus modules registered by hand) and ``dann_cli`` (``dann_cli("run", "--dataset", "x", plugins=[module])``:
runs the ``dann`` command line in-process and returns click's Result).
"""
from __future__ import annotations

import contextlib
import dataclasses
import math
import tempfile
from pathlib import Path
from typing import Any, Iterable, Iterator

import pytest

TINY_SETTINGS: dict[str, Any] = {
    "steps": 20,
    "eval_every": 5,
    "batch_size": 16,
    "lr": 0.3,
    "method_options": {"lambda": "schedule"},
    "dataset_options": {"n_per_class": 30, "n_test_per_class": 40},
    "kernels": "reference",
}
"""Settings of a moons run that trains in well under a second (4 evaluations of 5 steps)."""

CHECK_STEPS = 4
"""Steps each contract check trains for (two evaluations)."""


class ContractError(AssertionError):
    """A component breaks its kind's contract; the message is one line naming it."""


def tiny_config(**changes: Any):
    """A fresh tiny moons :class:`~dann_core.config.RunConfig` with ``changes`` applied."""
    from .config import RunConfig

    return dataclasses.replace(RunConfig(**TINY_SETTINGS), **changes)


def registry_with(*modules: Any, autoload: bool = False):
    """A registry of dann's built-in plugins (and the installed ones when ``autoload``) plus ``modules``
    registered by hand, as a plugin's tests see it before the package is installed."""
    from .plugins import check_hook_names, get_plugin_manager, get_registry

    pm = get_plugin_manager(autoload=autoload)
    for module in modules:
        if pm.get_plugin(_plugin_name(module)) is None and not pm.is_registered(module):
            pm.register(module, name=_plugin_name(module))
    check_hook_names(pm)
    return get_registry(pm)


def _plugin_name(module: Any) -> str:
    return getattr(module, "__name__", None) or type(module).__name__


# ------------------------------------------------------------------------------ contract checks


def check_dataset(name: str, options: dict | None = None, registry=None, seed: int = 0):
    """Build dataset ``name`` twice (same seed: same tensors), check its splits, train on it; returns it."""
    from .specs import DomainData

    registry = _registry(registry)
    data = _build(registry, "dataset", name, options, seed=seed)
    where = f"dataset '{name}'"
    _require(data.num_classes >= 2, f"{where} has num_classes={data.num_classes}, expected at least 2")
    for split_name in ("source_train", "source_val", "target_train", "target_test"):
        split = getattr(data, split_name)
        _check_split(f"{where} {split_name}", split, data, labelled=split_name != "target_train")
    _require(len(data.source_train) > 0 and len(data.target_train) > 0, f"{where} has an empty source_train or target_train")
    again = _build(registry, "dataset", name, options, seed=seed)
    for split_name in ("source_train", "target_train"):
        a, b = getattr(data, split_name), getattr(again, split_name)
        xa, xb = _first_rows(a.x), _first_rows(b.x)
        _require(a.x.shape == b.x.shape and bool((xa == xb).all()),
                 f"{where} {split_name} differs between two builds with seed {seed}; a dataset must be deterministic for a seed")
    _train(registry, where, dataset=name, dataset_options=dict(options or {}))
    assert isinstance(data, DomainData)
    return data


def check_backbone(name: str, options: dict | None = None, registry=None, dataset: str = "moons", dataset_options: dict | None = None):
    """Build backbone ``name`` for ``dataset``'s inputs, check its features and default head (and, when it
    declares them, that ``pretrained_parameters()`` are its own and ``input_normalization`` is a name), train it."""
    from .plugins.contracts import backbone_output_problem

    registry = _registry(registry)
    data_options = _dataset_options(dataset, dataset_options)
    data = _build(registry, "dataset", dataset, data_options, seed=0)
    backbone = _build(registry, "backbone", name, options, input_shape=tuple(data.input_shape))
    head = backbone.default_head(data.num_classes)
    problem = backbone_output_problem(backbone, head, data.source_train.x[:2], data.num_classes)
    _require(problem is None, f"backbone '{name}' {problem}")
    _train(registry, f"backbone '{name}'", backbone=name, backbone_options=dict(options or {}), dataset=dataset, dataset_options=data_options)
    return backbone


def check_discriminator(name: str, options: dict | None = None, registry=None, in_features: int = 16):
    """Build discriminator ``name`` for 2 and 3 domains, check its logits' shapes, train dann with it."""
    import torch

    registry = _registry(registry)
    built = None
    for domains, width in ((2, 1), (3, 3)):
        built = _build(registry, "discriminator", name, options, in_features=in_features, num_domains=domains)
        logits = built(torch.randn(5, in_features))
        _require(
            isinstance(logits, torch.Tensor) and tuple(logits.shape) == (5, width),
            f"discriminator '{name}' with num_domains={domains} maps (5, {in_features}) features to "
            f"{tuple(getattr(logits, 'shape', ())) or type(logits).__name__}, expected (5, {width})",
        )
    _train(registry, f"discriminator '{name}'", discriminator=name, discriminator_options=dict(options or {}), method="dann")
    return built


def check_method(name: str, options: dict | None = None, registry=None, **settings: Any):
    """Train method ``name`` twice with one seed (the metrics must be finite and identical); returns the summary."""
    registry = _registry(registry)
    where = f"method '{name}'"
    first = _train(registry, where, method=name, method_options=dict(options or {}), **settings)
    second = _train(registry, where, method=name, method_options=dict(options or {}), **settings)
    _require(first["records"] == second["records"], f"{where} logged different metrics in two runs with one seed; use the run's seeded RNGs only")
    return first["summary"]


def check_algorithm(name: str, options: dict | None = None, registry=None, **settings: Any):
    """Deprecated name of :func:`check_method` (one DeprecationWarning)."""
    import warnings

    warnings.warn("dann_core.testing.check_algorithm is renamed check_method", DeprecationWarning, stacklevel=2)
    return check_method(name, options, registry, **settings)


def check_selector(name: str, options: dict | None = None, registry=None):
    """Build selector ``name``, check its flags, score a tiny trained checkpoint (None or a finite number)."""
    from .selection import Candidate, SelectionData
    from .train import fit

    registry = _registry(registry)
    where = f"selector '{name}'"
    selector = _build(registry, "selector", name, options)
    for flag in ("higher_is_better", "per_eval", "across_runs", "set_level"):
        _require(isinstance(getattr(selector, flag, None), bool), f"{where} has {flag}={getattr(selector, flag, None)!r}, expected True or False")
    _require(not (selector.set_level and selector.per_eval),
             f"{where} is set_level and per_eval; a set-level selector scores when the set is complete (per_eval = False)")
    cfg = tiny_config(steps=CHECK_STEPS, eval_every=CHECK_STEPS)
    run = _guard(where, lambda: fit(cfg, registry=registry))
    candidate = Candidate(run.step, run.method, SelectionData.of(run.data, cfg.seed), "cpu", cfg, registry)
    if selector.set_level:  # a set of two: the same checkpoint twice
        scores = _guard(where, lambda: selector.score_all([candidate, Candidate(run.step, run.method, candidate.data, "cpu", cfg, registry)]))
        _require(isinstance(scores, list) and len(scores) == 2, f"{where}: score_all of 2 candidates returned {scores!r}, expected a list of 2 scores")
    else:
        scores = [_guard(where, lambda: selector.score(candidate))]
    for score in scores:
        _require(score is None or (isinstance(score, (int, float)) and math.isfinite(float(score))),
                 f"{where} scored {score!r}, expected None or a finite number")
    return selector


def check_logger(name: str, options: dict | None = None, registry=None):
    """Build logger ``name`` in a scratch run directory, log, resume and close it, then train with ``--log name``."""
    from .train import train

    registry = _registry(registry)
    where = f"logger '{name}'"
    with _scratch_dir() as tmp:
        run_dir = Path(tmp) / "direct"
        run_dir.mkdir()
        logger = _build(registry, "logger", name, options, run_dir=run_dir)
        _require(not any(run_dir.iterdir()), f"{where} wrote files when it was built; write at the first log(record)")
        for step in (1, 2):
            _guard(where, lambda: logger.log({"step": step, "label_loss": 0.5, "source_val_acc": 0.75, "selectors": {"last": float(step)}}))
        for method in ("resume", "close"):
            if callable(getattr(logger, method, None)):
                _guard(where, lambda: getattr(logger, method)(*([1] if method == "resume" else [])))
        cfg = tiny_config(steps=CHECK_STEPS, eval_every=2, log=name)
        _guard(where, lambda: train(cfg, Path(tmp) / "run", registry=registry))
    return logger


RESUME_STEPS, RESUME_EVAL_EVERY = 10, 4
"""The run :func:`check_resume` trains for a method name: evaluations (and checkpoints) at steps 4, 8 and 10."""


def check_resume(method: Any = "dann", options: dict | None = None, registry=None, stop_after: int | None = None, **settings: Any):
    """Train a tiny run to its end (the reference); train it again, stop it after step ``stop_after``
    the way Ctrl-C stops a run (the trainer's stop path, :mod:`dann_core.stops`) and resume it. Its
    metrics.jsonl lines, summary and final weights must equal the reference's exactly; returns the summary.

    ``method`` is a method name (trained on tiny moons with ``options`` and ``settings``, e.g.
    ``steps=12``, ``eval_every=5``, ``dataset="my-data"``) or a whole :class:`~dann_core.config.RunConfig`.
    ``stop_after`` defaults to a step between two checkpoints (6 of 10), so the resumed run must
    train steps 5 and 6 again exactly as they were: state a step uses that the checkpoint does not
    hold (a Python counter, a generator of the method's own) makes this raise ContractError naming
    the first step and metric that differ.
    """
    from .config import RunConfig
    from .metrics import MetricsLog

    registry = _registry(registry)
    if isinstance(method, RunConfig):
        if options is not None or settings:
            raise ValueError("check_resume: pass a RunConfig alone, or a method name with options and settings")
        cfg = method
    elif isinstance(method, str):
        flags = {"steps": RESUME_STEPS, "eval_every": RESUME_EVAL_EVERY, **settings}
        cfg = _resolve(registry, f"method '{method}'", method=method, method_options=dict(options or {}), **flags)
    else:
        raise ValueError(f"check_resume takes a method name or a RunConfig, not {type(method).__name__}")
    where = f"method '{cfg.method}'"
    if stop_after is None:
        stop_after = min(cfg.eval_every + max(1, cfg.eval_every // 2), cfg.steps - 1)
    if not 0 < stop_after < cfg.steps:
        raise ValueError(f"check_resume: stop_after={stop_after} must be a step from 1 to {cfg.steps - 1} (the run has {cfg.steps} steps)")
    with _scratch_dir() as tmp:
        reference_dir, stopped_dir = Path(tmp) / "reference", Path(tmp) / "stopped"
        reference = _guard(where, lambda: _run(cfg, reference_dir, registry))
        _guard(where, lambda: _stopped_run(cfg, stopped_dir, registry, stop_after, where))
        resumed = _guard(where, lambda: _resume(stopped_dir, registry))
        expected, got = MetricsLog(reference_dir / "metrics.jsonl").read(), MetricsLog(stopped_dir / "metrics.jsonl").read()
        how = f"{where} does not resume exactly (stopped after step {stop_after}, resumed from its checkpoint)"
        hint = "keep every state a step uses in the checkpoint (parameters, buffers, get_extra_state) and draw randomness from torch's global RNG"
        for before, after in zip(expected, got):
            difference = _first_difference(before, after)
            if difference is not None:
                raise ContractError(f"{how}: step {before.get('step')} logged {difference}; {hint}")
        _require(len(expected) == len(got), f"{how}: metrics.jsonl has {len(got)} evaluations, the uninterrupted run {len(expected)}")
        drop = ("seconds", "eval_seconds", "run_dir")
        summaries = [{key: value for key, value in summary.items() if key not in drop} for summary in (reference, resumed)]
        difference = _first_difference(*summaries)
        _require(difference is None, f"{how}: its summary has {difference}; {hint}")
        weights = [_load_weights(directory / "last.pt") for directory in (reference_dir, stopped_dir)]
        differing = next((key for key in weights[0] if key not in weights[1] or not _same_tensor(weights[0][key], weights[1][key])), None)
        _require(differing is None, f"{how}: its final weights differ at '{differing}'; {hint}")
    return summaries[1]


def _run(cfg, run_dir: Path, registry) -> dict[str, Any]:
    from .train import train

    return train(cfg, run_dir, registry=registry)


def _resume(run_dir: Path, registry) -> dict[str, Any]:
    from .train import resume

    return resume(run_dir, registry=registry)


def _stopped_run(cfg, run_dir: Path, registry, stop_after: int, where: str) -> None:
    """Train ``cfg`` in ``run_dir`` and stop it after step ``stop_after`` as a recorded Ctrl-C does."""
    import signal

    from . import stops
    from .train import Trainer

    trainer = Trainer(cfg, run_dir=run_dir, registry=registry)
    trainer.start()
    feed = trainer.next_batch

    def next_batch():
        if trainer.method.steps_done + 1 == stop_after:  # the step about to be taken: the loop stops after it
            stops.handler(signal.SIGINT, None)
        return feed()

    trainer.next_batch = next_batch
    try:
        trainer.run()
    except KeyboardInterrupt:
        return
    raise ContractError(f"{where}: a run asked to stop after step {stop_after} trained to its end; "
                        "a custom training loop must leave stopping to the trainer")


def _first_difference(expected: dict, got: dict) -> str | None:
    """``key=got where the uninterrupted run had expected`` for the first key that differs, or None."""
    for key in list(expected) + [key for key in got if key not in expected]:
        if key not in got or key not in expected or expected[key] != got[key]:
            return f"{key}={got.get(key, '(missing)')!r} where the uninterrupted run has {expected.get(key, '(missing)')!r}"
    return None


def _load_weights(path: Path) -> dict[str, Any]:
    from . import checkpoint

    return checkpoint.load(path)["method"]


def _same_tensor(a, b) -> bool:
    import torch

    if isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor):
        return a.shape == b.shape and a.dtype == b.dtype and bool(torch.equal(a, b))
    return a == b


# ------------------------------------------------------------------------------------- helpers


def _registry(registry):
    from .plugins import get_registry

    return registry if registry is not None else get_registry()


def _build(registry, kind: str, name: str, options: dict | None, **context: Any):
    try:
        return registry.build(kind, name, dict(options or {}), **context)
    except Exception as exc:
        raise ContractError(f"{kind} '{name}' could not be built: {_first_line(exc)}") from exc


def _first_rows(x, n: int = 8):
    """The first rows of ``x`` as a tensor (a LazyRows is read for them; the rest stays unread)."""
    return x[: min(n, len(x))]


def _check_split(where: str, split, data, labelled: bool) -> None:
    import torch

    from .rows import LazyRows

    lazy = isinstance(split.x, LazyRows)
    _require(lazy or (isinstance(split.x, torch.Tensor) and split.x.is_floating_point()),
             f"{where}.x is {type(split.x).__name__}, expected a float tensor or a dann_core.rows.LazyRows")
    _require(tuple(split.x.shape[1:]) == tuple(data.input_shape),
             f"{where}.x has rows of shape {tuple(split.x.shape[1:])}, but input_shape is {tuple(data.input_shape)}")
    if lazy and len(split):
        rows = _first_rows(split.x, 2)
        _require(rows.is_floating_point() and tuple(rows.shape[1:]) == tuple(data.input_shape),
                 f"{where}.x (LazyRows) reads rows of {rows.dtype} {tuple(rows.shape[1:])}, expected float rows of shape {tuple(data.input_shape)}")
    if split.y is None:
        _require(not labelled or len(split) == 0, f"{where} has no labels (y is None)")
        return
    _require(split.y.dtype == torch.int64 and split.y.shape == (len(split),),
             f"{where}.y is {split.y.dtype} of shape {tuple(split.y.shape)}, expected int64 of shape ({len(split)},)")
    if len(split):
        low, high = int(split.y.min()), int(split.y.max())
        _require(0 <= low and high < data.num_classes, f"{where}.y holds labels {low}..{high}, expected 0..{data.num_classes - 1}")


def _dataset_options(dataset: str, options: dict | None) -> dict:
    if options is not None:
        return dict(options)
    return dict(TINY_SETTINGS["dataset_options"]) if dataset == "moons" else {}


def _resolve(registry, where: str, **settings: Any):
    """The RunConfig of a tiny CPU run (CHECK_STEPS steps unless ``settings`` say otherwise) with the
    components' recommendations; ``*_options`` tables are merged over the recommended options."""
    from . import config

    flags = {"steps": CHECK_STEPS, "eval_every": CHECK_STEPS // 2, "batch_size": 8, "kernels": "reference", "device": "cpu", "threads": 1}
    if settings.get("dataset", "moons") == "moons" and "dataset_options" not in settings:
        settings["dataset_options"] = dict(TINY_SETTINGS["dataset_options"])
    tables = {key: settings.pop(key) for key in list(settings) if key.endswith("_options")}
    try:
        cfg = config.resolve(flags={**flags, **settings}, registry=registry)
        return dataclasses.replace(cfg, **{key: {**getattr(cfg, key), **value} for key, value in tables.items()})
    except ValueError as exc:
        raise ContractError(f"{where}: {_first_line(exc)}") from exc


def _train(registry, where: str, **settings: Any) -> dict[str, Any]:
    """A CHECK_STEPS-step run with the component's recommendations, in a scratch directory: its summary and records."""
    from .metrics import MetricsLog
    from .train import train

    cfg = _resolve(registry, where, **settings)
    with _scratch_dir() as tmp:
        summary = _guard(where, lambda: train(cfg, Path(tmp) / "run", registry=registry))
        records = MetricsLog(Path(tmp) / "run" / "metrics.jsonl").read()
    _require(len(records) == 2, f"{where}: a {CHECK_STEPS}-step run logged {len(records)} evaluations, expected 2")
    for record in records:
        bad = {key: value for key, value in record.items() if isinstance(value, float) and not math.isfinite(value)}
        _require(not bad, f"{where}: step {record['step']} logged non-finite metrics {bad}")
    return {"summary": {k: v for k, v in summary.items() if k not in ("seconds", "run_dir")}, "records": records}


def _guard(where: str, call):
    try:
        return call()
    except ContractError:
        raise
    except Exception as exc:
        raise ContractError(f"{where} failed: {type(exc).__name__}: {_first_line(exc)}") from exc


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ContractError(message)


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


@contextlib.contextmanager
def _scratch_dir() -> Iterator[str]:
    with tempfile.TemporaryDirectory(prefix="dann-check-") as tmp:
        yield tmp


# -------------------------------------------------------------------------------------- fixtures


@pytest.fixture
def dann_tiny_config():
    """A fresh tiny moons RunConfig (change its fields freely, or use ``dataclasses.replace``)."""
    return tiny_config()


@pytest.fixture
def dann_registry():
    """``dann_registry(module, ...)``: the built-in plugins plus ``module`` registered by hand."""
    return registry_with


@pytest.fixture
def dann_cli(monkeypatch):
    """``dann_cli("run", "--steps", "4", plugins=[module])``: click's Result of the ``dann`` command line.

    ``plugins`` are registered by hand on the command line's plugin manager (besides the installed
    ones); the exception of a crash is re-raised rather than hidden in the Result.
    """
    from click.testing import CliRunner

    from . import plugins as plugins_module
    from .cli import build_cli

    def invoke(*args: str, plugins: Iterable[Any] = (), catch_exceptions: bool = False):
        plugins = list(plugins)
        if plugins:
            original = plugins_module.get_plugin_manager

            def with_plugins(autoload=None):
                pm = original(autoload=autoload)
                for module in plugins:
                    if not pm.is_registered(module) and pm.get_plugin(_plugin_name(module)) is None:  # installed too (pip -e)
                        pm.register(module, name=_plugin_name(module))
                return pm

            monkeypatch.setattr(plugins_module, "get_plugin_manager", with_plugins)
        try:
            return CliRunner().invoke(build_cli(), [str(arg) for arg in args], catch_exceptions=catch_exceptions)
        finally:
            if plugins:
                monkeypatch.setattr(plugins_module, "get_plugin_manager", original)

    return invoke
