"""The training loop: a :class:`Trainer` puts the pieces of a run together and steps it.

Assembly (:mod:`.assembly`), the data feed (:mod:`.feed`), the engine that runs a method's step
(:mod:`.engine`), evaluation and selection (:mod:`.evaluation`) and the run directory
(:mod:`.rundir`, which describes its files) each live in their own module; this one owns the order
in which they act and the checkpoint that holds all of their state.
"""
from __future__ import annotations

import contextlib
import time
from pathlib import Path
from typing import Any

from .. import checkpoint as ckpt
from .. import config as config_io
from .. import files, ops, run_summary, stops
from ..methods import NonFiniteLossError
from ..config import RunConfig
from ..loggers import build_loggers
from ..metrics import RunningMeans
from ..plugins import get_registry
from ..specs import DomainData
from . import distributed, health, progress, rundir, threads
from .assembly import build_components, normalization_state, provenance, resolve_device, restore_normalization
from .engine import Engine
from .errors import DivergedError, RunError, warn_renamed
from .evaluation import SELECTION, Evaluation
from .feed import Feed


class Trainer:
    """Trains one run. ``run_dir=None`` keeps everything in memory (no files, best weights kept).

    The trainer knows no method: the feed samples the batches ``method.needs`` and the engine runs
    ``method.update``. Use :func:`~dann_core.train.train`, :func:`~dann_core.train.resume` or
    :func:`~dann_core.train.fit` rather than this class directly, unless you need the live method
    (``trainer.method``) or engine after ``run()``. ``registry`` is the
    :class:`~dann_core.plugins.Registry` to build from (default: the installed plugins).
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
        self.data, method = build_components(cfg, data, self.registry, restoring)
        self.method = method.to(self.device)
        try:
            self.engine = Engine(self.method, self.device, cfg.precision, cfg.compile, data_parallel=self.world.size > 1,
                                 channels_last=cfg.channels_last)
        except ValueError as exc:
            raise RunError(str(exc)) from None
        self.feed = Feed(self.data, self.method.needs, cfg.batch_size, cfg.seed, self.device, self.world)
        self.source_dir = Path(run_dir) if run_dir is not None else None  # read (resume) by every process
        self.run_dir = self.source_dir if self.world.writes else None  # written by rank 0 only
        self.loggers = build_loggers(cfg.log, self.run_dir, self.registry) if self.run_dir else []
        self.quiet = quiet
        self.progress_labels = progress.labels(self.method)
        self.schedule_metrics = (*self.method.schedule_metrics, "lr")  # "lr": the engine's
        self.evaluation = Evaluation(cfg, self.registry, self.method, self.data, self.device, self.run_dir, self.candidate_state)
        self.seconds = 0.0
        self.finished = False
        self.restarted = False  # restore() found a run stopped before its first checkpoint
        self.summary_damage: str | None = None  # restore() found a damaged summary.json (one line), to write again
        self.lock: rundir.RunLock | None = None  # held while this trainer writes run_dir
        self.created = False  # start() created run_dir (a failure before its first evaluation removes it)

    def next_batch(self):
        return self.feed.next_batch()

    @property
    def algorithm(self):
        """Deprecated name of ``trainer.method`` (one DeprecationWarning)."""
        warn_renamed("Trainer.algorithm", "Trainer.method")
        return self.method

    # ------------------------------------------------------------------------------ checkpointing

    def state(self) -> dict[str, Any]:
        return {
            "format": rundir.CHECKPOINT_FORMAT,
            **self.engine.state_dict(),
            **self.feed.state_dict(),
            "rng": ckpt.rng_state(),
            **self.evaluation.state_dict(),
            "seconds": self.seconds,
            "config": self.config.to_dict(),
            "explicit_data": self.explicit_data,
            "input_normalization": self.method.input_normalization,
            "input_statistics": normalization_state(self.data),
        }

    def load_state(self, state: dict[str, Any]) -> None:
        restore_normalization(self.method, self.data, state)
        self.engine.load_state_dict(state)
        self.feed.load_state_dict(state, self.source_dir)
        ckpt.set_rng_state(state["rng"])
        self.evaluation.load_state_dict(state)
        self.seconds = state["seconds"]

    def candidate_state(self) -> dict[str, Any]:
        """What a candidate checkpoint holds: enough for load_run, not for resuming."""
        return {"format": rundir.CHECKPOINT_FORMAT, "method": self.method.state_dict(), "step": self.method.steps_done,
                "explicit_data": self.explicit_data, "input_normalization": self.method.input_normalization,
                "input_statistics": normalization_state(self.data)}

    def save(self, name: str) -> None:
        if self.run_dir is not None:
            ckpt.atomic_save(self.state(), self.run_dir / name)

    # ------------------------------------------------------------------------------------ running

    def start(self) -> None:
        """Create the run directory with config.json and a step-0 last.pt (see :func:`.rundir.create`)."""
        if self.run_dir is None:
            return

        def write() -> None:
            config_io.save(self.config, self.run_dir / "config.json", provenance(self.config, self.registry))
            self.save("last.pt")

        self.lock = rundir.create(self.run_dir, write)
        self.created = True

    def restore(self) -> None:
        """Continue from ``run_dir/last.pt``: weights, optimisers, step, samplers, RNGs, best so far.

        Sets ``finished`` (and touches no file) when the run already reached its last step and
        wrote summary.json; :meth:`run` must not be called then. A run stopped before its first
        checkpoint (only config.json) starts again from step 0 and sets ``restarted``.
        """
        if self.run_dir is not None:
            self.lock = rundir.lock(self.run_dir, claim=False)
        try:
            self._restore()
        except BaseException:
            self.release()
            raise
        if self.finished:
            self.release()
        elif self.lock is not None:
            self.lock.claim()

    def release(self) -> None:
        """Let go of the run directory's lock (the end of the process does it too)."""
        if self.lock is not None:
            self.lock.release()
            self.lock = None

    def _restore(self) -> None:
        if self.run_dir is not None:
            rundir.refuse_links(self.run_dir)
        path = self.source_dir / "last.pt"
        if not path.exists() and rundir.started_without_checkpoint(self.source_dir):
            self.restarted = True
            if self.run_dir is not None:
                files.sweep_temporaries(self.run_dir, rundir.RUN_FILES)
                self.save("last.pt")  # what start() writes after config.json
            return
        if not path.exists():
            raise RunError(f"cannot resume {self.source_dir}: it has no last.pt")
        state = ckpt.load(path, map_location=self.device)
        rundir.check_format(state, path)
        rundir.check_data_source(state, self.explicit_data, self.source_dir)
        rundir.load_matching(path, lambda: self.load_state(state))
        at_end = int(state["step"]) >= self.config.steps
        self.finished = at_end and rundir.read_summary(self.source_dir) is not None
        if at_end and not self.finished:  # killed while finishing, or summary.json damaged: finished again
            self.summary_damage = rundir.summary_damage(self.source_dir)
        if self.run_dir is None:
            return
        if not self.finished:  # its records must reach the checkpoint's step, or the run would end without them
            rundir.check_metrics(self.run_dir, [entry["step"] for entry in self.evaluation.pool.history])
        files.sweep_temporaries(self.run_dir, rundir.RUN_FILES)  # a kill inside atomic_write left them
        if not self.finished:
            for logger in self.loggers:
                logger.resume(int(state["step"]))

    def run(self) -> dict[str, Any]:
        """Train up to ``config.steps``; returns the summary (also written to summary.json)."""
        try:
            return self._train()
        finally:
            self.release()

    def _train(self) -> dict[str, Any]:
        means = RunningMeans()
        started = time.perf_counter() - self.seconds
        step = self.method.steps_done
        # a stop signal ends the loop after a step, never inside a fork (see dann_core.stops); the
        # processes of a data-parallel run stop where the signal lands (each at its own step would
        # leave the others waiting in a collective call), and their launcher stops them all
        with stops.polled() if self.world.size == 1 else contextlib.nullcontext():
            return self._steps(step, started, means)

    def _steps(self, step: int, started: float, means: RunningMeans) -> dict[str, Any]:
        cfg, engine = self.config, self.engine
        try:
            with progress.bar(cfg.steps, step, self.quiet) as bar:
                while step < cfg.steps:
                    metrics = engine.step(self.next_batch())
                    step = self.method.steps_done
                    schedule = {key: metrics.pop(key) for key in self.schedule_metrics if key in metrics}
                    means.add(metrics)
                    if step % cfg.eval_every == 0 or step == cfg.steps:
                        window = distributed.mean_metrics(means.pop())
                        self.check_finite(window)  # before anything is evaluated, logged or saved
                        self.seconds = time.perf_counter() - started
                        self._evaluate(step, window, schedule)
                        bar.set_postfix(progress.postfix(self.evaluation.last, self.progress_labels), refresh=False)
                    elif step % 10 == 0 and not bar.disable:  # reading metrics syncs with a GPU: only for a visible bar
                        bar.set_postfix(progress.postfix({**self.evaluation.last, **metrics}, self.progress_labels), refresh=False)
                    bar.update(1)
                    stops.check()
        finally:
            self.feed.close()  # no DataLoader worker outlives the loop, whatever stopped it
        self.seconds = time.perf_counter() - started
        self.evaluation.finish()
        stops.check()  # stopped while the candidates were scored: no summary, a resume finishes again
        summary = self.summary()
        if self.run_dir is not None:
            files.write_json(summary, self.run_dir / "summary.json")
        for logger in self.loggers:
            logger.close()
        return summary

    def _evaluate(self, step: int, window: dict[str, float], schedule: dict[str, float]) -> None:
        record = self.evaluation.record(step, window, schedule)
        for logger in self.loggers:
            logger.log(record)
        self.evaluation.keep(step)
        self.save("last.pt")

    def check_finite(self, window: dict[str, float] | None = None) -> None:
        """DivergedError when a step since the last check had a non-finite loss (the engine skipped
        it and every later update on the device; this is the one host read of that guard). ``window``:
        the step metrics' means since the last check, which name the culprit."""
        try:
            self.engine.check_finite(window)
        except NonFiniteLossError as exc:
            where = "nothing was saved (in-memory run)"
            if self.run_dir is not None:
                saved = ckpt.load(self.run_dir / "last.pt")["step"]
                where = f"the last good checkpoint is {self.run_dir / 'last.pt'} (step {saved})"
            raise DivergedError(f"training diverged: {exc}; {where}; try a lower --lr") from None

    def summary(self) -> dict[str, Any]:
        cfg, best = self.config, self.evaluation.best
        last = self.evaluation.last  # the trainer's entries, then the method's declared metrics the last window has
        final = {**{k: last.get(k) for k in run_summary.FINAL_FIELDS}, **{k: last[k] for k in self.method.summary_metrics if k in last}}
        collapse_step = health.collapse_start(self.evaluation.pool.history)
        warning = None
        if collapse_step is not None:
            reason = f"at step {final['step']} {self.evaluation.last.get('collapse', 'the network predicts at chance')}"
            warning = health.collapse_line(collapse_step, reason, best["step"])
        return {
            "state": "collapsed" if collapse_step is not None else "trained",
            "collapse_step": collapse_step,
            "warning": warning,
            **{key: getattr(cfg, key) for key in ("method", "dataset", "backbone", "discriminator", "seed", "steps")},
            "best_step": best["step"],
            "best_source_val_acc": best["source_val_acc"],
            "target_test_acc": best["target_test_acc"],
            "target_acc_estimate": best.get("target_acc_estimate"),  # without target labels (dann_core.selection.estimate)
            "selector": cfg.select,
            "selector_score": best.get("score"),
            "final": final,
            "selection": SELECTION,
            "seconds": round(self.seconds, 3),
            "eval_seconds": round(self.evaluation.seconds, 3),
            "run_dir": str(self.run_dir) if self.run_dir is not None else None,
        }
