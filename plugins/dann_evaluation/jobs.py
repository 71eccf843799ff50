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

Its files are :mod:`dann_evaluation.jobfiles`; the state is read from that directory alone
(:func:`job_state`, :mod:`dann_evaluation.jobstate`): ``pending`` (never started),
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
import shutil
import sys
from pathlib import Path

from dann_core.config import RunConfig

# what a job is, and its state, live in .jobfiles and .jobstate, its lock in .joblock; every name stays importable from here
from .jobfiles import (DIVERGED_FILE, ERROR_FILE, EXECUTION_KEYS, JOB_FILE, LOG_FILE, RUN_DIR, JobFileError, experiment, job_id, jobs_dir,
                       list_jobs, read_job, read_summary, write_job)
from .joblock import LOCK_FILE, JobError, JobLock, lock_holder
from .jobstate import FINISHED, STATES, JobState, clear_failure, first_line as _first_line, job_state

__all__ = ["DIVERGED_FILE", "ERROR_FILE", "EXECUTION_KEYS", "FINISHED", "JOB_FILE", "LOCK_FILE", "LOG_FILE", "RUN_DIR", "STATES", "JobError",
           "JobFileError", "JobLock", "JobState", "clear_failure", "experiment", "job_id", "job_state", "jobs_dir", "list_jobs", "lock_holder",
           "main", "read_job", "read_summary", "run_job", "write_job"]


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
