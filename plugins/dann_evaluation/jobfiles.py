"""A job's files: its id (a hash of what it computes), its ``job.json`` record, its run's summary, and
the list of the job directories under a sweep's or table's root (:mod:`dann_evaluation.jobs` says what
a job directory holds)."""
from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path
from typing import Any

from dann_core.config import RunConfig

from .joblock import JobError

EXECUTION_KEYS = ("device", "threads", "kernels", "out")
"""Settings that change how a run executes, not what it computes: not part of a job's id."""
JOB_FILE, RUN_DIR, ERROR_FILE, DIVERGED_FILE, LOG_FILE = "job.json", "run", "error", "diverged", "log"


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
