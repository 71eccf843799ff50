"""The training loop: data, samplers, evaluation, the run directory, checkpoints and resume.

Run directory (all written by :class:`Trainer` when it has one)::

    config.json     the resolved RunConfig, plus "provenance": the plugin, distribution and version
                    of each component and the recommended settings that took effect
    metrics.jsonl   one line per evaluation: step, means of the step metrics since the previous
                    line (label_loss, train_acc, domain_loss, domain_acc), λ and lr of the last step,
                    source_val_acc, target_test_acc and the scores of every per-evaluation selector
    last.pt         everything needed to resume: weights, optimiser, step, sampler and RNG states
    best.pt         the checkpoint the run's selector (--select) chooses (ties go to the later step)
    candidates/     the kept candidate checkpoints (the last, the best few per selector) for
                    ``dann eval select``
    summary.json    written when the run finishes

Model selection never reads a target label (selectors see source data and target inputs only);
target test accuracy is reported and never used to choose anything. Order of writes at an
evaluation: the metrics line, then the candidate and best.pt, then last.pt, so a run killed anywhere
resumes from last.pt, drops the lines logged after it and replays the same steps.
"""
from __future__ import annotations

import copy
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch

from .. import checkpoint as ckpt
from .. import ops
from .. import config as config_io
from .. import files
from ..config import COMPONENT_KINDS, RunConfig
from ..loggers import build_loggers
from ..metrics import RunningMeans, accuracy
from ..specs import DomainData
from ..algorithms import SOURCE, TARGET, TARGET_LABELLED, Algorithm, AlgorithmContext, Batch, NonFiniteLossError, OptimSettings
from ..selection import Candidate, SelectionData
from . import distributed, threads
from .candidates import CandidatePool
from .sampler import BatchSampler, DomainBalancedSampler
from .stream import StreamedRows
from ..rows import is_lazy

SELECTION = (
    "best = the checkpoint the selector chooses from source data and unlabelled target inputs (ties: later step); "
    "target_test_acc is reported only, never used to select"
)
CHECKPOINT_FORMAT = 2


class RunError(ValueError):
    """A run that cannot start or continue (bad run directory, missing labels, ...); one line."""


class DivergedError(RuntimeError):
    """Training produced a NaN/inf loss; the run directory keeps the last good checkpoint."""


@dataclass
class TrainedRun:
    """A trained model with what it was trained on.

    ``summary`` is the run's summary (None when loaded from a run that never finished); ``step`` the
    step of the loaded weights; ``checkpoint`` the file they came from (None for in-memory runs).
    """

    config: RunConfig
    model: torch.nn.Module
    data: DomainData
    step: int
    summary: dict[str, Any] | None = None
    checkpoint: Path | None = None
    algorithm: Algorithm | None = None


DEVICES = "auto, cpu, cuda or cuda:N"


def resolve_device(name: str | torch.device) -> torch.device:
    """``auto`` → CUDA when available, else CPU; ``cpu``, ``cuda``, ``cuda:N`` (and ``mps`` where present)."""
    name = str(name)
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, ValueError):
        raise RunError(f"unknown device '{name}'; use {DEVICES}") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise RunError(f"device '{name}' requested but CUDA is not available; use --device cpu")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise RunError(f"device '{name}' does not exist: {torch.cuda.device_count()} CUDA device(s); use cuda:0 .. cuda:{torch.cuda.device_count() - 1}")
    elif device.type == "mps":
        if not torch.backends.mps.is_available():
            raise RunError(f"device '{name}' requested but MPS is not available; use {DEVICES}")
    elif device.type != "cpu":
        raise RunError(f"device '{name}' cannot train or evaluate (no data on {device.type} tensors); use {DEVICES}")
    return device


def default_run_dir(cfg: RunConfig) -> Path:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    return Path("runs") / f"{cfg.dataset}-{cfg.method}-s{cfg.seed}-{stamp}"


def num_domains(data: DomainData) -> int:
    """2 for source vs target; K+1 when ``data.domains`` marks K > 1 source domains (target = K)."""
    if data.domains is not None and data.num_source_domains > 1:
        return data.num_source_domains + 1
    return 2


def build_components(
    cfg: RunConfig, data: DomainData | None, registry=None, restoring: bool = False
) -> tuple[DomainData, Algorithm]:
    """Seed everything, then build the dataset (unless given), the networks and the algorithm, as a run does.

    Every component's name and options are checked before the dataset is built (no image is read
    for a run that cannot start). ``restoring``: a checkpoint's weights are loaded next, so options
    that only initialise parameters (``ComponentSpec.init_options``, e.g. a pretrained weights file)
    stay at their defaults and the original file is not needed.
    """
    from ..model import build_networks
    from ..plugins import get_registry

    registry = registry if registry is not None else get_registry()
    validate_components(cfg, registry)
    ckpt.seed_everything(cfg.seed)
    if data is None:
        data = build_dataset(cfg, registry)
    backbone_options = cfg.backbone_options
    if restoring:
        init = registry.get("backbone", cfg.backbone).init_options
        backbone_options = {key: value for key, value in backbone_options.items() if key not in init}
    backbone, classifier, make_discriminator = build_networks(
        registry, data, cfg.backbone, cfg.discriminator, backbone_options, cfg.discriminator_options, num_domains(data),
        bottleneck=cfg.bottleneck,
    )
    adopt_normalization(data, getattr(backbone, "input_normalization", None))
    optim = OptimSettings(cfg.steps, cfg.lr, cfg.lr_schedule, cfg.momentum, cfg.weight_decay, cfg.backbone_lr_mult)
    context = AlgorithmContext(backbone, classifier, make_discriminator, data.num_classes, num_domains(data), optim)
    algorithm = registry.build("algorithm", cfg.method, cfg.method_options, context=context)  # its type is checked there
    algorithm.input_normalization = getattr(backbone, "input_normalization", None)
    _check_labels(cfg, data, algorithm)
    return data, algorithm


def validate_components(cfg: RunConfig, registry) -> None:
    """UnknownComponentError / InvalidOptionError for any component of ``cfg``, before anything is built."""
    from ..plugins import validate_options

    for key, kind in COMPONENT_KINDS.items():
        spec = registry.get(kind, getattr(cfg, key))
        options = getattr(cfg, f"{key}_options", None)
        if options is not None:
            validate_options(spec, options, kind=kind)


def adopt_normalization(data: DomainData, name: str | None) -> None:
    """Tell every split read on demand that the backbone expects inputs normalised as ``name``."""
    if not name:
        return
    for x in lazy_inputs(data):
        x.adopt_normalization(name)


def lazy_inputs(data: DomainData) -> list:
    """The splits' inputs that are read on demand (LazyRows)."""
    return [split.x for split in (data.source_train, data.source_val, data.target_train, data.target_test) if is_lazy(split.x)]


def build_dataset(cfg: RunConfig, registry) -> DomainData:
    """The run's dataset, built with the run's seed (global RNGs seeded first, as a run does)."""
    ckpt.seed_everything(cfg.seed)
    return registry.build("dataset", cfg.dataset, cfg.dataset_options, seed=cfg.seed)


def provenance(cfg: RunConfig, registry) -> dict[str, Any]:
    """What config.json records besides the settings: who provided each component, what was recommended."""
    components = {key: registry.provenance(kind, getattr(cfg, key)) for key, kind in COMPONENT_KINDS.items()}
    return {"components": components, "recommended": dict(getattr(cfg, "recommended", {}) or {})}


def check_installed(cfg: RunConfig, recorded: dict[str, Any], registry) -> None:
    """Raise RunError naming the package to install when a run's component is no longer registered."""
    for key, kind in COMPONENT_KINDS.items():
        name = getattr(cfg, key)
        if name in registry.of_kind(kind):
            continue
        source = (recorded.get("components") or {}).get(key) or {}
        broken = [b for b in getattr(registry.pm, "broken", {}).values() if source.get("distribution") and b.distribution == source["distribution"]]
        if broken:
            raise RunError(f"{kind} '{name}' of this run came from {source['distribution']}, which is installed but broken: {broken[0].error}")
        if source.get("distribution"):
            raise RunError(
                f"{kind} '{name}' of this run came from {source['distribution']} {source.get('version') or ''}".rstrip()
                + f", which is not installed (or is disabled by --no-plugins); pip install {source['distribution']}"
            )
        if source.get("plugin"):
            raise RunError(f"{kind} '{name}' of this run came from plugin '{source['plugin']}', registered by hand; register it again (registry=)")


class Trainer:
    """Trains one run. ``run_dir=None`` keeps everything in memory (no files, best weights kept).

    The trainer knows no method: it samples the batches ``algorithm.needs`` and calls
    ``algorithm.update``. Use :func:`train`, :func:`resume` or :func:`fit` rather than this class
    directly, unless you need the live algorithm (``trainer.algorithm``) after ``run()``.
    ``registry`` is the :class:`~dann_core.plugins.Registry` to build from (default: the installed plugins).
    """

    def __init__(
        self,
        cfg: RunConfig,
        data: DomainData | None = None,
        run_dir: Path | None = None,
        quiet: bool = True,
        registry=None,
        restoring: bool = False,
    ) -> None:
        from ..plugins import get_registry

        ops.dispatch.set_mode(cfg.kernels)
        cfg = threads.apply(cfg)  # --threads 0 (auto): the rule's count, which config.json then records
        self.config = cfg
        self.registry = registry if registry is not None else get_registry()
        self.world, self.device = distributed.setup(resolve_device(cfg.device))
        if cfg.batch_size % self.world.size:
            raise RunError(f"batch_size {cfg.batch_size} is the global batch: it must divide evenly over {self.world.size} processes")
        try:
            ops.backend(self.device)  # raises when --kernels ext is asked for but not built
        except RuntimeError as exc:
            raise RunError(str(exc)) from None
        self.explicit_data = data is not None
        self.data, algorithm = build_components(cfg, data, self.registry, restoring)
        self.algorithm = algorithm.to(self.device)
        self.algorithm.data_parallel = self.world.size > 1
        try:
            self.algorithm.configure(self.device, cfg.precision, cfg.compile)
        except ValueError as exc:
            raise RunError(str(exc)) from None
        self.samplers = self._make_samplers()
        self._make_feeds()
        self.source_dir = Path(run_dir) if run_dir is not None else None  # read (resume) by every process
        self.run_dir = self.source_dir if self.world.writes else None  # written by rank 0 only
        self.loggers = build_loggers(cfg.log, self.run_dir, self.registry) if self.run_dir else []
        self.quiet = quiet
        self.best: dict[str, Any] = {"step": None, "source_val_acc": None, "target_test_acc": None, "score": None}
        self.best_state: dict[str, Any] | None = None
        self.selection_data = SelectionData.of(self.data, cfg.seed)
        self.pool = CandidatePool(self._build_selectors(), cfg.select, cfg.keep_candidates, self.run_dir)
        self.last_eval: dict[str, Any] = {}
        self.seconds = 0.0
        self.finished = False

    def _build_selectors(self) -> dict:
        """Every registered per-evaluation selector (their scores are logged) and the run's own."""
        from ..selection import Selector

        cfg, selectors = self.config, {}
        for name in self.registry.selectors:
            selector = self.registry.build("selector", name, cfg.select_options if name == cfg.select else {})
            if not isinstance(selector, Selector):
                raise TypeError(f"selector '{name}' built a {type(selector).__name__}, expected a dann_core.selection.Selector")
            if selector.per_eval or name == cfg.select:
                selectors[name] = selector
        self.registry.get("selector", cfg.select)  # an unknown name is an error naming the choices
        return selectors

    def _make_samplers(self) -> dict[str, BatchSampler | DomainBalancedSampler]:
        """One seeded sampler per batch kind the algorithm needs (seeds fixed per kind, so resumable).
        With several source domains the source sampler is balanced: every domain fills an equal share."""
        data = self.data
        sizes = {SOURCE: len(data.source_train), TARGET: len(data.target_train), TARGET_LABELLED: len(data.target_train)}
        batch = self.config.batch_size
        largest = max(sizes[kind] for kind in self.algorithm.needs)
        if batch > largest:
            raise RunError(f"batch_size {batch} is larger than every split the run samples (the largest has {largest} rows); use at most {largest}")
        samplers = {}
        for kind in sorted(self.algorithm.needs):
            if kind == SOURCE and num_domains(data) > 2:
                samplers[kind] = DomainBalancedSampler(data.domains, batch, seed=self.sampler_seed(kind))
            else:
                samplers[kind] = BatchSampler(sizes[kind], batch, seed=self.sampler_seed(kind))
        return samplers

    # ------------------------------------------------------------------------------------ batches

    def _make_feeds(self) -> None:
        """How each sampled kind's inputs are read: rows indexed from a tensor (moved to the training
        device once when everything fits in half of its free memory, so a step copies nothing), or a
        stream of rows read on demand by DataLoader workers (LazyRows without a resident tensor)."""
        data, device = self.data, self.device
        inputs = {SOURCE: data.source_train.x, TARGET: data.target_train.x, TARGET_LABELLED: data.target_train.x}
        self.streams: dict[str, StreamedRows] = {}
        indexed: dict[str, tuple[torch.Tensor, Any]] = {}
        for kind in self.samplers:
            x = inputs[kind]
            resident = x.resident() if is_lazy(x) else None
            if is_lazy(x) and resident is None:
                self.streams[kind] = StreamedRows(x, self.samplers[kind], self.sampler_seed(kind), device, self.world)
            elif is_lazy(x):
                indexed[kind] = (resident, x.finish)
            else:
                indexed[kind] = (x, None)
        labels = {
            "source_y": data.source_train.y if SOURCE in self.samplers else None,
            "source_domains": data.domains.long() if data.domains is not None and num_domains(data) > 2 else None,
            "target_y": data.target_train.y if TARGET_LABELLED in self.samplers else None,
        }
        tensors = {**{kind: t for kind, (t, _) in indexed.items()}, **labels}
        if device.type != "cpu":
            size = sum(t.numel() * t.element_size() for t in {id(t): t for t in tensors.values() if t is not None}.values())
            free = torch.cuda.mem_get_info(device)[0] if device.type == "cuda" else 0
            if size <= free // 2:
                moved: dict[int, torch.Tensor] = {}
                tensors = {k: None if t is None else moved.setdefault(id(t), t.to(device)) for k, t in tensors.items()}
        self.indexed = {kind: (tensors[kind], finish) for kind, (_, finish) in indexed.items()}
        self.labels = {key: tensors[key] for key in labels}

    def sampler_seed(self, kind: str) -> int:
        """The seed of ``kind``'s sampler (and of its rows' training transforms), fixed per run seed."""
        return self.config.seed * 1_000_003 + {SOURCE: 1, TARGET: 2, TARGET_LABELLED: 3}[kind]

    def _draw(self, kind: str) -> tuple[torch.Tensor, torch.Tensor]:
        """(inputs on the training device, their row indices) of the next batch of ``kind``."""
        if kind in self.streams:
            return self.streams[kind].next()
        _, idx = self.world.share(self.samplers[kind].next())
        tensor, finish = self.indexed[kind]
        rows = tensor[idx.to(tensor.device)].to(self.device)  # no copy when the split lives on the device
        return (finish(rows) if finish is not None else rows), idx

    def _labels(self, key: str, idx: torch.Tensor) -> torch.Tensor:
        tensor = self.labels[key]
        return tensor[idx.to(tensor.device)].to(self.device)

    def next_batch(self) -> Batch:
        batch = Batch()
        if SOURCE in self.samplers:
            batch.source_x, idx = self._draw(SOURCE)
            batch.source_y = self._labels("source_y", idx)
            if self.labels["source_domains"] is not None:
                batch.source_domains = self._labels("source_domains", idx)
        if TARGET in self.samplers:
            batch.target_x, _ = self._draw(TARGET)
        if TARGET_LABELLED in self.samplers:
            batch.labelled_target_x, idx = self._draw(TARGET_LABELLED)
            batch.labelled_target_y = self._labels("target_y", idx)
        return batch

    def close_streams(self) -> None:
        for stream in self.streams.values():
            stream.close()

    # ------------------------------------------------------------------------------ checkpointing

    def state(self) -> dict[str, Any]:
        return {
            "format": CHECKPOINT_FORMAT,
            **self.algorithm.training_state(),
            "samplers": {name: sampler.state_dict() for name, sampler in self.samplers.items() if name not in self.streams},
            "streams": {name: stream.state_dict() for name, stream in self.streams.items()},
            "rng": ckpt.rng_state(),
            "best": dict(self.best),
            "selection": self.pool.state_dict(),
            "last_eval": dict(self.last_eval),
            "seconds": self.seconds,
            "config": self.config.to_dict(),
            "explicit_data": self.explicit_data,
            "input_normalization": self.algorithm.input_normalization,
            "input_statistics": normalization_state(self.data),
        }

    def load_state(self, state: dict[str, Any]) -> None:
        restore_normalization(self.algorithm, self.data, state)
        self.algorithm.load_training_state(state)
        for name, sampler in self.samplers.items():
            saved = state["streams"][name]["sampler"] if name in self.streams else state["samplers"][name]
            if isinstance(sampler, DomainBalancedSampler) and "domains" not in saved:
                raise RunError(f"{self.source_dir} was checkpointed before multi-source batches were balanced per source "
                               "domain and cannot continue exactly; retrain it")
            if name in self.streams:
                self.streams[name].load_state_dict(state["streams"][name])
            else:
                sampler.load_state_dict(state["samplers"][name])
        ckpt.set_rng_state(state["rng"])
        self.best, self.last_eval, self.seconds = dict(state["best"]), dict(state["last_eval"]), state["seconds"]
        self.pool.load_state_dict(state["selection"])

    def save(self, name: str) -> None:
        if self.run_dir is not None:
            ckpt.atomic_save(self.state(), self.run_dir / name)

    # --------------------------------------------------------------------------------- evaluation

    def evaluate(self) -> dict[str, float | None]:
        predict, device = self.algorithm.predict, self.device
        return {
            "source_val_acc": accuracy(predict, self.data.source_val, device),
            "target_test_acc": accuracy(predict, self.data.target_test, device),
        }

    def candidate(self, step: int) -> Candidate:
        return Candidate(step, self.algorithm, self.selection_data, self.device, self.config, self.registry)

    def candidate_state(self) -> dict[str, Any]:
        """What a candidate checkpoint holds: enough for load_run, not for resuming."""
        return {"format": CHECKPOINT_FORMAT, "algorithm": self.algorithm.state_dict(), "step": self.algorithm.steps_done,
                "explicit_data": self.explicit_data, "input_normalization": self.algorithm.input_normalization,
                "input_statistics": normalization_state(self.data)}

    def _record_eval(self, step: int, window: dict[str, float], schedule: dict[str, float]) -> None:
        scores = self.evaluate()
        selector_scores = self.pool.score(self.candidate(step))
        record = {"step": step, **window, **schedule, **scores, "selectors": selector_scores}
        self.last_eval = record
        for logger in self.loggers:
            logger.log(record)
        self.pool.add(step, selector_scores, scores, self.candidate_state)
        if self.config.select in self.pool.per_eval and self.pool.best_logged(self.config.select) == step:
            self._set_best(step, selector_scores[self.config.select], self.candidate_state)
        self.save("last.pt")

    def _set_best(self, step: int, score: float | None, state) -> None:
        entry = self.pool.entry(step)
        self.best = {"step": step, "source_val_acc": entry["source_val_acc"], "target_test_acc": entry["target_test_acc"], "score": score}
        if self.run_dir is None:
            self.best_state = copy.deepcopy(state()["algorithm"])
        else:
            ckpt.atomic_save(state(), self.run_dir / "best.pt")

    def finish_selection(self) -> None:
        """Selectors that are not per-evaluation score the kept candidates now; a selector that scored
        nothing leaves best.pt at the last step."""
        name = self.config.select
        if name not in self.pool.per_eval:
            live = copy.deepcopy(self.algorithm.state_dict())
            stored, scored = self.pool.stored(), {}
            for step, load in stored.items():
                self.algorithm.load_state_dict(load()["algorithm"])
                score = self.pool.selectors[name].score(self.candidate(step))
                scored[step] = None if score is None else float(score)
            self.algorithm.load_state_dict(live)
            from ..selection import choose

            chosen = choose(scored.items(), self.pool.selectors[name])
            if chosen is not None:
                self._set_best(chosen, scored[chosen], stored[chosen])
        if self.best["step"] is None and self.pool.history:
            self._set_best(self.pool.history[-1]["step"], None, self.candidate_state)

    # ------------------------------------------------------------------------------------ running

    def start(self) -> None:
        """Create the run directory with config.json and a step-0 last.pt.

        Only a missing or empty directory becomes a run directory: a user's files are never
        overwritten or appended to. If writing fails, the files written so far are removed again.
        """
        if self.run_dir is None:
            return
        check_new_run_dir(self.run_dir)
        created = not self.run_dir.exists()
        self.run_dir.mkdir(parents=True, exist_ok=True)
        try:
            config_io.save(self.config, self.run_dir / "config.json", provenance(self.config, self.registry))
            self.save("last.pt")
        except BaseException:
            for name in RUN_FILES:
                (self.run_dir / name).unlink(missing_ok=True)
            files.sweep_temporaries(self.run_dir, RUN_FILES)
            if created:
                self.run_dir.rmdir()
            raise

    def restore(self) -> None:
        """Continue from ``run_dir/last.pt``: weights, optimiser, step, samplers, RNGs, best so far.

        Sets ``finished`` (and touches no file) when the run already reached its last step and
        wrote summary.json; :meth:`run` must not be called then.
        """
        path = self.source_dir / "last.pt"
        if not path.exists():
            raise RunError(f"cannot resume {self.source_dir}: it has no last.pt")
        state = ckpt.load(path, map_location=self.device)
        _check_format(state, path)
        _check_data_source(state, self.explicit_data, self.source_dir)
        _load_matching(path, lambda: self.load_state(state))
        self.finished = int(state["step"]) >= self.config.steps and read_summary(self.source_dir) is not None
        if self.run_dir is None:
            return
        files.sweep_temporaries(self.run_dir, RUN_FILES)  # a kill inside atomic_write left them
        if not self.finished:
            for logger in self.loggers:
                logger.resume(int(state["step"]))

    def run(self) -> dict[str, Any]:
        """Train up to ``config.steps``; returns the summary (also written to summary.json)."""
        cfg, algorithm = self.config, self.algorithm
        means = RunningMeans()
        started = time.perf_counter() - self.seconds
        step = algorithm.steps_done
        try:
            with _progress(cfg.steps, step, self.quiet) as bar:
                while step < cfg.steps:
                    metrics = algorithm.update(self.next_batch())
                    step = algorithm.steps_done
                    schedule = {key: metrics.pop(key) for key in ("lambda", "lr") if key in metrics}
                    means.add(metrics)
                    if step % cfg.eval_every == 0 or step == cfg.steps:
                        window = distributed.mean_metrics(means.pop())
                        self.check_finite(window)  # before anything is evaluated, logged or saved
                        self.seconds = time.perf_counter() - started
                        self._record_eval(step, window, schedule)
                        bar.set_postfix(_postfix(self.last_eval), refresh=False)
                    elif step % 10 == 0 and not bar.disable:  # reading metrics syncs with a GPU: only for a visible bar
                        bar.set_postfix(_postfix({**self.last_eval, **metrics}), refresh=False)
                    bar.update(1)
        finally:
            self.close_streams()  # no DataLoader worker outlives the loop, whatever stopped it
        self.seconds = time.perf_counter() - started
        self.finish_selection()
        summary = self.summary()
        if self.run_dir is not None:
            files.write_json(summary, self.run_dir / "summary.json")
        for logger in self.loggers:
            logger.close()
        return summary

    def check_finite(self, window: dict[str, float] | None = None) -> None:
        """DivergedError when a step since the last check had a non-finite loss (the algorithm skipped
        it and every later update on the device; this is the one host read of that guard). ``window``:
        the step metrics' means since the last check, which name the culprit."""
        try:
            self.algorithm.check_finite(window)
        except NonFiniteLossError as exc:
            raise DivergedError(self._diverged_message(exc)) from None

    def _diverged_message(self, exc: NonFiniteLossError) -> str:
        where = "nothing was saved (in-memory run)"
        if self.run_dir is not None:
            saved = ckpt.load(self.run_dir / "last.pt")["step"]
            where = f"the last good checkpoint is {self.run_dir / 'last.pt'} (step {saved})"
        return f"training diverged: {exc}; {where}; try a lower --lr"

    def summary(self) -> dict[str, Any]:
        cfg = self.config
        final = {k: self.last_eval.get(k) for k in ("step", "source_val_acc", "target_test_acc", "label_loss", "domain_loss", "domain_acc")}
        return {
            "method": cfg.method,
            "dataset": cfg.dataset,
            "backbone": cfg.backbone,
            "discriminator": cfg.discriminator,
            "seed": cfg.seed,
            "steps": cfg.steps,
            "best_step": self.best["step"],
            "best_source_val_acc": self.best["source_val_acc"],
            "target_test_acc": self.best["target_test_acc"],
            "selector": cfg.select,
            "selector_score": self.best.get("score"),
            "final": final,
            "selection": SELECTION,
            "seconds": round(self.seconds, 3),
            "run_dir": str(self.run_dir) if self.run_dir is not None else None,
        }


RUN_FILES = ("config.json", "metrics.jsonl", "last.pt", "best.pt", "summary.json")


def check_new_run_dir(run_dir: Path) -> None:
    """RunError unless ``run_dir`` is missing or an empty directory (a new run never touches other files)."""
    if not run_dir.exists():
        return
    if not run_dir.is_dir():
        raise RunError(f"{run_dir} is a file, not a directory; pick another --out")
    if not any(run_dir.iterdir()):
        return
    if (run_dir / "last.pt").exists() and (run_dir / "config.json").exists():
        raise RunError(f"{run_dir} already holds a run; continue it with --resume {run_dir} or pick another --out")
    raise RunError(f"{run_dir} is not empty and holds no resumable run; a run needs a new or empty directory: pick another --out")


def _load_matching(path: Path, load: Any) -> None:
    """Run ``load()``; RunError naming ``path`` when its tensors do not fit the run's networks."""
    try:
        load()
    except RunError:
        raise
    except (RuntimeError, KeyError, TypeError, ValueError) as exc:
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise RunError(f"{path} does not fit this run's config.json ({reason[:160]}); was config.json edited? restore it or retrain") from None


def _check_data_source(state: dict[str, Any], explicit_data: bool, run_dir: Path) -> None:
    if state.get("explicit_data") and not explicit_data:
        raise RunError(f"{run_dir} was trained on data passed to train(data=...); pass the same data again")


def _check_labels(cfg: RunConfig, data: DomainData, algorithm: Algorithm) -> None:
    if SOURCE in algorithm.needs and data.source_train.y is None:
        raise RunError(f"dataset '{cfg.dataset}' has no labels on source_train; method '{cfg.method}' trains on labelled source")
    if TARGET_LABELLED in algorithm.needs and data.target_train.y is None:
        raise RunError(f"method '{cfg.method}' needs target labels, but dataset '{cfg.dataset}' has none on target_train")


def _postfix(values: dict[str, Any]) -> dict[str, str]:
    names = {"label_loss": "loss", "domain_acc": "d_acc", "source_val_acc": "val", "target_test_acc": "test"}
    return {short: f"{values[key]:.3f}" for key, short in names.items() if values.get(key) is not None}


def _progress(total: int, initial: int, quiet: bool):
    from tqdm.auto import tqdm

    disable = quiet or not sys.stderr.isatty()
    return tqdm(total=total, initial=initial, disable=disable, desc="dann", unit="step", dynamic_ncols=True)


# --------------------------------------------------------------------------------------- public API
# Every function takes ``registry=``: the Registry of the plugins to build from (the CLI passes the
# one it built, honouring --no-plugins; tests pass one with a module registered by hand). None
# means the installed plugins.


def train(
    config: RunConfig,
    run_dir: str | Path | None = None,
    quiet: bool = True,
    data: DomainData | None = None,
    registry=None,
) -> dict[str, Any]:
    """Train one run and return its summary.

    Args:
        config: the resolved run config.
        run_dir: where to write config.json, metrics.jsonl, last.pt, best.pt and summary.json; None
            trains in memory and writes nothing.
        quiet: no progress bar (it is also hidden when stderr is not a terminal).
        data: train on this :class:`DomainData` instead of building ``config.dataset`` (e.g. reverse
            validation's pseudo-labelled data). ``resume``/``load_run`` then need it passed again.
        registry: the plugin registry to build the components from.

    Raises:
        RunError: a run that cannot start (existing run dir, no target labels for the method, ...).
        DivergedError: a NaN/inf loss; the run directory keeps the last good checkpoint.
        dann_core.plugins.UnknownComponentError / InvalidOptionError: bad component names or options.
    """
    trainer = Trainer(config, data=data, run_dir=Path(run_dir) if run_dir is not None else None, quiet=quiet, registry=registry)
    trainer.start()
    return trainer.run()


def resume(run_dir: str | Path, quiet: bool = True, data: DomainData | None = None, registry=None) -> dict[str, Any]:
    """Continue the run in ``run_dir`` from its last.pt to ``config.steps``; returns the summary.

    The result equals that of the uninterrupted run: step counter, schedules, sampler positions and
    RNG states all come from the checkpoint, and metrics.jsonl lines after it are dropped. A run
    that already finished is left untouched and its summary returned.
    """
    run_dir = Path(run_dir)
    cfg, registry = read_run_config(run_dir, registry)
    trainer = Trainer(cfg, data=data, run_dir=run_dir, quiet=quiet, registry=registry, restoring=True)
    trainer.restore()
    return read_summary(run_dir) if trainer.finished else trainer.run()


def fit(config: RunConfig, data: DomainData | None = None, quiet: bool = True, registry=None) -> TrainedRun:
    """Train in memory (no files) and return the model with the best source-val weights loaded."""
    trainer = Trainer(config, data=data, quiet=quiet, registry=registry)
    summary = trainer.run()
    algorithm = trainer.algorithm
    if trainer.best_state is not None:
        algorithm.load_state_dict(trainer.best_state)
    step = summary["best_step"] or config.steps
    return TrainedRun(config, algorithm.model.eval(), trainer.data, step, summary, None, algorithm.eval())


def load_run(
    run_dir: str | Path,
    checkpoint: str = "best",
    data: DomainData | None = None,
    device: str = "cpu",
    registry=None,
) -> TrainedRun:
    """Rebuild a run's data and algorithm and load ``best.pt`` or ``last.pt``; the model is in eval mode.

    Pass ``data`` for runs trained on explicit data (it cannot be rebuilt from the config).
    """
    run_dir = Path(run_dir)
    if checkpoint not in ("best", "last"):
        raise ValueError(f"checkpoint must be 'best' or 'last', got '{checkpoint}'")
    path = run_dir / f"{checkpoint}.pt"
    cfg, registry = read_run_config(run_dir, registry)
    if not path.exists():
        raise RunError(f"{run_dir} has no {path.name} (a run writes best.pt at its first evaluation)")
    device = resolve_device(device)
    state = ckpt.load(path, map_location=device)
    _check_format(state, path)
    _check_data_source(state, data is not None, run_dir)
    data, algorithm = build_components(cfg, data, registry, restoring=True)
    restore_normalization(algorithm, data, state)
    _load_matching(path, lambda: algorithm.load_training_state(state, optimizer=False))
    algorithm.to(device).eval()
    return TrainedRun(cfg, algorithm.model, data, int(state["step"]), read_summary(run_dir), path, algorithm)


def read_summary(run_dir: Path) -> dict[str, Any] | None:
    """The run's summary.json, or None when it is missing or unreadable (loading a run does not need it)."""
    try:
        summary = files.read_json(run_dir / "summary.json")
    except (OSError, ValueError):
        return None
    return summary if isinstance(summary, dict) else None


def read_run_config(run_dir: Path, registry):
    """(the run's config, the registry to use), having checked the run's components are installed."""
    from ..plugins import get_registry

    path = run_dir / "config.json"
    if not path.exists():
        raise RunError(f"{run_dir} is not a run directory (no config.json)")
    cfg = config_io.load(path)
    registry = registry if registry is not None else get_registry()
    check_installed(cfg, config_io.load_provenance(path), registry)
    return cfg, registry


def restore_normalization(algorithm: Algorithm, data: DomainData, state: dict[str, Any]) -> None:
    """Inputs are normalised as when the checkpoint was trained, although the backbone was rebuilt
    without its init options (a pretrained weights file, which is what declared the normalisation)."""
    name = state.get("input_normalization")
    if name:
        adopt_normalization(data, name)
        algorithm.input_normalization = name
    statistics = state.get("input_statistics")
    if statistics:  # statistics estimated from the files when it trained, not from the files as they are now
        for x in lazy_inputs(data):
            x.load_normalization_state(statistics)


def normalization_state(data: DomainData) -> dict | None:
    """The normalisation the run's lazily read inputs derived from the data (source_train's rows)."""
    return data.source_train.x.normalization_state() if is_lazy(data.source_train.x) else None


def _check_format(state: dict[str, Any], path: Path) -> None:
    if "format" not in state:
        raise RunError(f"{path} is not a dann run checkpoint (no format entry); restore the run's own {path.name} or retrain")
    if state.get("format") != CHECKPOINT_FORMAT:
        raise RunError(f"{path} has checkpoint format {state.get('format')}, this dann reads format {CHECKPOINT_FORMAT}; retrain the run")
