"""``dann sweep --search optuna``: a seeded TPE search over the grid's values and ranges, every trial a job.

The space is the sweep grid: a list of values is a categorical choice, ``range:LOW:HIGH`` a uniform
and ``logrange:LOW:HIGH`` a log-uniform draw (integers when both ends are). The objective is the
selector's cross-run score of each trial's run (maximised when higher is better, else minimised);
no target label is used and ``last`` is refused, as in a grid sweep.

Resuming needs no study database: the sampler is seeded, so asking again with the same finished
trials told in the same order gives the same parameters, hence the same job ids. A relaunch replays
the trials from their job directories (done ones are told their score, without training) and runs
only what is missing; interrupted trials resume from their last checkpoint. Trials are asked in
batches of ``--workers`` (run side by side); the first launch records the batch size in
``search.json`` and later launches keep it, since another batching would ask other parameters.
Diverged and failed trials are told as failed.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from dann_core.config import RunConfig

from .grid import DEFAULT_SELECT, Range, SweepError, validate_grid
from .sweep import ALIASES, _label, _registry, collect, describe_job, job_config, sweep_selector

SEARCH_FILE = "search.json"


def _require_optuna():
    try:
        import optuna
    except ImportError:
        raise SweepError("--search optuna needs optuna: pip install 'dann[search]'") from None
    return optuna


def suggest(trial, key: str, values: list[Any]) -> Any:
    """The trial's value of ``key``: a draw from a Range, or one of the listed values."""
    if len(values) == 1 and isinstance(values[0], Range):
        span = values[0]
        if span.integer:
            return trial.suggest_int(key, span.low, span.high, log=span.log)
        return trial.suggest_float(key, float(span.low), float(span.high), log=span.log)
    return trial.suggest_categorical(key, values)


def _batch_size(out: Path, workers: int, seed: int, trials: int) -> int:
    """The batch of the first launch (``search.json``), so that a relaunch asks the same trials."""
    from dann_core import files

    path = out / SEARCH_FILE
    if path.exists():
        record = files.read_json(path)
        if record.get("seed") != seed:
            raise SweepError(f"{out} holds a search with --search-seed {record.get('seed')}; use it again or another --out")
        return int(record["batch"])
    out.mkdir(parents=True, exist_ok=True)
    files.write_json({"sampler": "TPE", "seed": seed, "batch": workers, "trials": trials}, path)
    return workers


def run_search(
    base: RunConfig,
    grid: dict[str, list[Any]],
    out: str | Path,
    select: str = DEFAULT_SELECT,
    trials: int = 20,
    seed: int = 0,
    registry=None,
    launcher: str = "local",
    workers: int = 1,
    retry_failed: bool = False,
    stream=None,
) -> dict[str, Any]:
    """Run ``trials`` TPE trials (seeded) as jobs under ``out``; returns :func:`collect`'s result plus ``launch``."""
    optuna = _require_optuna()
    from dann_core.config import apply_layer

    from .jobs import job_state, write_job
    from .launch import LaunchResult, Progress, build_launcher, launch_jobs

    out = Path(out)
    registry = _registry(registry)
    select = ALIASES.get(select, select)
    selector = sweep_selector(select, registry)
    validate_grid(grid, base, registry, select, search=True)
    runner = build_launcher(registry, launcher, workers)
    batch = _batch_size(out, workers, seed, trials)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize" if selector.higher_is_better else "minimize",
                                sampler=optuna.samplers.TPESampler(seed=seed))
    progress = Progress(trials, f"search {out.name}", describe_job, workers, stream)
    states, ran, interrupted, number = {}, [], False, 0
    while number < trials and not interrupted:
        asked = [study.ask() for _ in range(min(batch, trials - number))]
        job_dirs = []
        for offset, trial in enumerate(asked):
            values = {key: suggest(trial, key, values) for key, values in grid.items()}
            try:
                cfg = RunConfig.from_dict(apply_layer(base.to_dict(), values, "in the search"), "in the search")
            except ValueError as exc:
                raise SweepError(f"search: {exc}") from None
            label = {"trial": number + offset, **{k: _label(v) for k, v in values.items()}}
            job_dirs.append(write_job(out, job_config(cfg, select, base), label, number + offset, "search"))
        launched = launch_jobs(job_dirs, runner, retry_failed, progress)
        states.update(launched.states)
        ran += launched.ran
        interrupted = launched.interrupted
        for trial, job_dir in zip(asked, job_dirs):
            score = _score(job_dir, job_state(job_dir).state)
            if score is None:
                study.tell(trial, state=optuna.trial.TrialState.FAIL)
            else:
                study.tell(trial, score)
        number += len(asked)
    progress.close()
    result = collect(out, selector=selector, grid={k: [str(v) for v in vs] for k, vs in grid.items()}, base=base)
    result["search"] = {"sampler": "TPE", "seed": seed, "trials": trials, "batch": batch}
    result["launch"] = LaunchResult(states, ran, interrupted)
    return result


def _score(job_dir: Path, state: str) -> float | None:
    from .jobs import read_summary

    if state != "done":
        return None
    score = read_summary(job_dir)["selector_score"]  # checked: a number or null
    return None if score is None else float(score)
