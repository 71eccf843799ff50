"""Jobs: every run of a sweep or table is one job, with a stable id and its own directory.

A job's id is a hash of its resolved config without the settings that only change how it executes
(:data:`EXECUTION_KEYS`), so the same command finds the same jobs again. Its directory
``ROOT/jobs/<id>/`` holds

- ``job.json``: the id, the config, the job's label (the grid values, the method and seed, ...) and
  its position in the sweep or table;
- ``run/``: an ordinary run directory (config.json, metrics.jsonl, last.pt, best.pt, summary.json);
- ``lock``: flock'ed by the process running the job for the whole job, and holding its pid; a dead
  process releases it, so "running" never outlives a killed worker (:mod:`dann_evaluation.joblock`);
- ``diverged`` or ``error``: one line, when training diverged (a result: ranked last) or failed;
- ``log``: what the job's process printed (local launcher).

The state is read from that directory alone (:func:`job_state`): ``pending`` (never started),
``running`` (its lock is held), ``done`` (run/summary.json), ``collapsed`` (finished, its summary's
state: the network ended at chance; best.pt is a healthy step before, the error its one line),
``diverged``, ``failed`` (with its one-line error) or ``interrupted`` (started, not finished, nobody
holds the lock).
:func:`run_job` moves a job forward: done and diverged jobs are left alone, an interrupted one is
resumed exactly from its last.pt (:func:`dann_core.train.resume`), a new one is trained.
``python -m dann_evaluation.jobs JOB_DIR [--threads N]`` is :func:`run_job` in a fresh process:
what the launchers run.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dann_core.config import RunConfig

from .joblock import LOCK_FILE as LOCK_FILE, JobError, JobLock, lock_holder  # the lock of a running job: .joblock

EXECUTION_KEYS = ("device", "threads", "kernels", "out")
"""Settings that change how a run executes, not what it computes: not part of a job's id."""
JOB_FILE, RUN_DIR, ERROR_FILE, DIVERGED_FILE, LOG_FILE = "job.json", "run", "error", "diverged", "log"
STATES = ("pending", "running", "interrupted", "done", "collapsed", "diverged", "failed")
FINISHED = ("done", "collapsed", "diverged")


def experiment(cfg: RunConfig) -> dict[str, Any]:
    """The config of ``cfg`` that decides what it computes (without :data:`EXECUTION_KEYS`)."""
    return {k: v for k, v in cfg.to_dict().items() if k not in EXECUTION_KEYS}


def job_id(cfg: RunConfig) -> str:
    """12 hex digits of the SHA-256 of :func:`experiment` as canonical JSON."""
    text = json.dumps(experiment(cfg), sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def jobs_dir(root: str | Path) -> Path:
    return Path(root) / "jobs"


def write_job(root: str | Path, cfg: RunConfig, label: dict[str, Any], index: int, group: str) -> Path:
    """Create (or find again) the directory of the job running ``cfg``; returns it.

    ``label`` is what tables show for it, ``index`` its position, ``group`` ``sweep``/``table``/``search``.
    An existing job.json is kept (it is the same experiment: the id says so) unless its label or
    index changed, which are then updated.
    """
    from dann_core import files

    cfg = dataclasses.replace(cfg, out=None)
    ident = job_id(cfg)
    job_dir = jobs_dir(root) / ident
    record = {"id": ident, "group": group, "index": index, "label": label, "config": cfg.to_dict()}
    path = job_dir / JOB_FILE
    old = None
    if path.exists():
        try:
            old = read_job(job_dir)
        except JobFileError:  # damaged: written again (the directory's name is this experiment's hash)
            pass
    if old is not None:
        if experiment(RunConfig.from_dict(old["config"], str(path))) != experiment(cfg):
            raise JobError(f"{path} holds another experiment under id {ident}; move {job_dir} away")
        if (old.get("label"), old.get("index"), old.get("group")) == (label, index, group):
            return job_dir
        record["config"] = old["config"]  # keep the recorded execution settings (threads of a resumed run)
    job_dir.mkdir(parents=True, exist_ok=True)
    files.write_json(record, path)
    return job_dir


class JobFileError(JobError):
    """A job's job.json or summary.json that is not what dann writes (damaged by hand, a disk or another
    program); one line naming the file. Status and collect skip the job; the next launch writes job.json
    again and finishes the run again (a damaged summary.json makes the job interrupted, not done)."""


_LABEL_KEYS = {"table": {"method": str, "seed": int}}
"""Entries a group's labels must hold (a table's rows are its methods and seeds)."""


def _job_problem(record: Any, job_dir: Path) -> str | None:
    """What makes ``record`` other than what :func:`write_job` writes for ``job_dir``; None when nothing."""
    if not isinstance(record, dict):
        return f"it holds a JSON {type(record).__name__}, not a job record"
    for key, kind in (("id", str), ("group", str), ("index", int), ("label", dict), ("config", dict)):
        if key not in record:
            return f'it has no "{key}"'
        if not isinstance(record[key], kind) or isinstance(record[key], bool):
            return f'"{key}" is {json.dumps(record[key])[:40]}, not {"a table" if kind is dict else "an integer" if kind is int else "a string"}'
    if record["id"] != job_dir.name:
        return f'its id {record["id"]!r} is not its directory\'s name'
    label = record["label"]
    if not all(isinstance(v, (str, int, float, bool)) or v is None for v in label.values()):
        return '"label" holds a value that is not a string or a number'
    for key, kind in _LABEL_KEYS.get(record["group"], {}).items():
        if not isinstance(label.get(key), kind) or isinstance(label.get(key), bool):
            return f'"label"."{key}" is {json.dumps(label.get(key))[:40]}, not {"an integer" if kind is int else "a string"}'
    for key, kind in (("steps", int), ("select", str), ("dataset", str)):
        value = record["config"].get(key)
        if not isinstance(value, kind) or isinstance(value, bool):
            return f'"config"."{key}" is {json.dumps(value)[:40]}, not {"an integer" if kind is int else "a string"}'
    return None


def read_job(job_dir: str | Path) -> dict[str, Any]:
    """``job_dir/job.json``, checked to be what :func:`write_job` writes; :class:`JobFileError` naming it otherwise."""
    from dann_core import files

    job_dir = Path(job_dir)
    path = job_dir / JOB_FILE
    advice = f"run the command that made the job again (it writes the file again), or remove {job_dir}"
    try:
        record = files.read_json(path)
    except files.CorruptFileError as exc:
        raise JobFileError(f"{str(exc).split('; ')[0]}; {advice}") from None
    except OSError as exc:
        raise JobFileError(f"{path}: {exc.strerror or exc}") from None
    problem = _job_problem(record, job_dir)
    if problem is not None:
        raise JobFileError(f"{path} is damaged ({problem}); {advice}")
    return record


def read_summary(job_dir: str | Path) -> dict[str, Any]:
    """The job's run/summary.json, checked (:mod:`dann_core.run_summary`); :class:`JobFileError` naming
    it when it is missing or damaged (the next launch finishes the run again)."""
    from dann_core import run_summary

    run = Path(job_dir) / RUN_DIR
    summary = run_summary.read(run)
    if summary is None:
        problem = run_summary.damage(run) or f"{run / run_summary.FILE} is missing"
        raise JobFileError(f"{problem}; the next launch of the sweep or table finishes the run again")
    return summary


def list_jobs(root: str | Path) -> list[Path]:
    """The job directories under ``root``, in the order of their index (then id); those whose job.json
    is damaged come last (readers skip them: :class:`JobFileError`)."""

    def order(job_dir: Path) -> tuple:
        try:
            return (0, read_job(job_dir)["index"], job_dir.name)
        except JobFileError:
            return (1, 0, job_dir.name)

    found = [p.parent for p in jobs_dir(root).glob(f"*/{JOB_FILE}") if not p.parent.is_symlink()]
    return sorted(found, key=order)


# ----------------------------------------------------------------------------------------- state


@dataclass
class JobState:
    """``state`` (one of :data:`STATES`), its one-line ``error`` (diverged/failed), the pid of a running job,
    and the last step logged in metrics.jsonl (None before the first evaluation)."""

    id: str
    state: str
    error: str | None = None
    pid: str | None = None
    step: int | None = None


def job_state(job_dir: str | Path, holding_lock: bool = False) -> JobState:
    """The state of the job in ``job_dir``, read from its files alone (``holding_lock``: the caller holds it)."""
    from dann_core import run_summary

    job_dir = Path(job_dir)
    run = job_dir / RUN_DIR
    step = _last_step(run / "metrics.jsonl")
    pid = None if holding_lock else lock_holder(job_dir)
    if pid is not None:
        return JobState(job_dir.name, "running", pid=pid, step=step)
    damage = run_summary.damage(run)  # not done: the next launch finishes it again
    if (run / "summary.json").is_file() and damage is None:
        summary = _summary(run / "summary.json")
        if summary.get("state") == "collapsed":  # dann_core/train/health.py
            return JobState(job_dir.name, "collapsed", error=_first_line(str(summary.get("warning") or "collapsed")), step=step)
        return JobState(job_dir.name, "done", step=step)
    for name, state in ((DIVERGED_FILE, "diverged"), (ERROR_FILE, "failed")):
        if (job_dir / name).is_file():
            return JobState(job_dir.name, state, error=_first_line((job_dir / name).read_text(errors="replace")), step=step)
    if run.exists():
        return JobState(job_dir.name, "interrupted", error=damage and f"{damage}: the next launch finishes the run again", step=step)
    return JobState(job_dir.name, "pending")


def _last_step(path: Path) -> int | None:
    try:
        lines = path.read_bytes().splitlines()
    except OSError:
        return None
    for line in reversed(lines):
        try:
            return int(json.loads(line)["step"])
        except (ValueError, KeyError, TypeError):
            continue
    return None


def _summary(path: Path) -> dict[str, Any]:
    try:
        summary = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return summary if isinstance(summary, dict) else {}


def _first_line(text: str) -> str:
    return (text.strip().splitlines() or [""])[0][:300]


def clear_failure(job_dir: str | Path) -> None:
    """Forget a failed job's error, so that the next launch retries it (``--retry-failed``)."""
    (Path(job_dir) / ERROR_FILE).unlink(missing_ok=True)


# ------------------------------------------------------------------------------------------- run


def run_job(job_dir: str | Path, threads: int = 0) -> str:
    """Move the job in ``job_dir`` forward under its lock; returns its state afterwards.

    ``threads``: the share of the cores this worker has, used when the job's config leaves
    ``threads`` at 0 (auto) and the run is new (a resumed run keeps the count in its config.json,
    so that it resumes bit for bit). Diverged and failed jobs leave one line in ``diverged`` /
    ``error``; a failed one is not run again (the launch clears the error when asked to retry).
    """
    from dann_core import files
    from dann_core.train import DivergedError, resume, train

    job_dir = Path(job_dir)
    record = read_job(job_dir)
    run = job_dir / RUN_DIR
    with JobLock(job_dir):
        state = job_state(job_dir, holding_lock=True).state
        if state in (*FINISHED, "failed"):
            return state
        try:
            if (run / "last.pt").is_file() and (run / "config.json").is_file():
                resume(run)
            else:
                if run.is_symlink():
                    raise JobError(f"{run} is a symbolic link; a job never writes through one: remove it")
                if run.exists():  # killed before its first checkpoint: nothing in it can be continued
                    shutil.rmtree(run)
                cfg = RunConfig.from_dict(record["config"], str(job_dir / JOB_FILE))
                if threads and not cfg.threads:
                    cfg = dataclasses.replace(cfg, threads=int(threads))
                train(cfg, run_dir=run)
        except DivergedError as exc:
            files.write_text(_first_line(str(exc)) + "\n", job_dir / DIVERGED_FILE)
            return "diverged"
        except KeyboardInterrupt:
            return "interrupted"
        except Exception as exc:  # the job's error is its result; the sweep goes on with the others
            message = _first_line(str(exc)) or type(exc).__name__
            files.write_text(f"{type(exc).__name__}: {message}\n", job_dir / ERROR_FILE)
            return "failed"
    return job_state(job_dir).state  # done, or collapsed (its summary says so)


def main(argv: list[str] | None = None) -> int:
    """``python -m dann_evaluation.jobs JOB_DIR [--threads N]``: exit 0 done/collapsed/diverged, 1 failed, 130 interrupted."""
    import argparse
    import os
    import signal

    from dann_core import stops

    stops.die_with_parent(stops.PARENT_PID_ENV, signal.SIGTERM)  # a killed sweep takes its jobs along (resumable)
    os.environ.pop(stops.PARENT_PID_ENV, None)  # not for the processes this job starts
    parser = argparse.ArgumentParser(prog="python -m dann_evaluation.jobs", description="Run one job of a dann sweep or table.")
    parser.add_argument("job_dir")
    parser.add_argument("--threads", type=int, default=0)
    args = parser.parse_args(argv)
    try:
        with stops.handled():  # Ctrl-C, TERM (schedulers, the local launcher), HUP: end resumable
            state = run_job(args.job_dir, args.threads)
    except (JobError, OSError, ValueError) as exc:
        print(f"Error: {_first_line(str(exc))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return {"done": 0, "collapsed": 0, "diverged": 0, "interrupted": 130}.get(state, 1)


if __name__ == "__main__":
    sys.exit(main())
