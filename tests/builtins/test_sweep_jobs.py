"""Sweeps and tables as jobs: stable ids, states from the directory, a killed worker resumed exactly,
launchers (local, submitit, ray), a resumable Optuna search, and the status/collect commands."""
from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

import dann_launchers
from dann_core.config import RunConfig
from dann_core.testing import TINY_SETTINGS, registry_with
from dann_evaluation import jobs
from dann_evaluation.launch import launch_jobs, build_launcher
from dann_evaluation.grid import SweepError, validate_grid
from dann_evaluation.sweep import run_sweep
from tests.paths import ROOT

ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "plugins"), os.environ.get("PYTHONPATH", "")])}
CHEAP = {**TINY_SETTINGS, "select": "source-val"}


@pytest.fixture
def registry():
    """The built-in plugins plus the launchers (registered by hand until dann is reinstalled with them)."""
    return registry_with(dann_launchers)


@pytest.fixture
def cli(monkeypatch):
    import dann_core.plugins as plugins_module

    original = plugins_module.get_plugin_manager

    def with_launchers(autoload=None):
        pm = original(autoload=autoload)
        if not pm.is_registered(dann_launchers) and pm.get_plugin("launchers") is None:
            pm.register(dann_launchers, name="launchers")
        return pm

    monkeypatch.setattr(plugins_module, "get_plugin_manager", with_launchers)
    from dann_core.cli import build_cli

    return lambda *args: CliRunner().invoke(build_cli(), [str(a) for a in args])


def test_job_id_is_stable_and_ignores_execution_settings():
    cfg = RunConfig(**CHEAP)
    assert jobs.job_id(cfg) == jobs.job_id(RunConfig(**CHEAP))
    assert jobs.job_id(dataclasses.replace(cfg, threads=2, device="cpu", out="x")) == jobs.job_id(cfg)
    assert jobs.job_id(dataclasses.replace(cfg, lr=0.2)) != jobs.job_id(cfg)
    assert len(jobs.job_id(cfg)) == 12


def test_state_comes_from_the_directory(tmp_path):
    job_dir = jobs.write_job(tmp_path, RunConfig(**CHEAP), {"lr": "0.3"}, 0, "sweep")
    assert jobs.job_state(job_dir).state == "pending"
    (job_dir / "run").mkdir()
    assert jobs.job_state(job_dir).state == "interrupted"
    with jobs.JobLock(job_dir):
        state = jobs.job_state(job_dir)
        assert state.state == "running" and state.pid == str(os.getpid())
        with pytest.raises(jobs.JobError, match=f"being run by process {os.getpid()}"):
            jobs.JobLock(job_dir).__enter__()
    assert jobs.job_state(job_dir).state == "interrupted"  # the lock went with its holder
    (job_dir / "error").write_text("RunError: something broke\n")
    assert (jobs.job_state(job_dir).state, jobs.job_state(job_dir).error) == ("failed", "RunError: something broke")
    (job_dir / "run" / "summary.json").write_text("{}")  # not what a finished run writes: not done
    assert jobs.job_state(job_dir).state == "failed"
    (job_dir / "run" / "summary.json").write_text(json.dumps(finished_summary()))
    assert jobs.job_state(job_dir).state == "done"


def finished_summary(**entries) -> dict:
    """A summary.json as a finished run writes it (every entry dann reads back), with ``entries`` changed."""
    return {"method": "dann", "dataset": "moons", "backbone": "mlp", "discriminator": "mlp", "seed": 0, "steps": 20,
            "best_step": 20, "best_source_val_acc": 0.5, "target_test_acc": 0.5, "selector": "source-val",
            "selector_score": 0.5, "seconds": 1.0, "run_dir": None, "final": {"step": 20}, **entries}


def test_a_job_never_writes_through_a_link(tmp_path):
    job_dir = jobs.write_job(tmp_path, RunConfig(**CHEAP), {}, 0, "sweep")
    outside = tmp_path / "outside"
    outside.write_text("keep")
    (job_dir / "lock").symlink_to(outside)
    with pytest.raises(jobs.JobError, match="symbolic link"):
        jobs.run_job(job_dir)
    assert outside.read_text() == "keep"


def test_another_experiment_under_the_same_id_is_refused(tmp_path):
    cfg = RunConfig(**CHEAP)
    job_dir = jobs.write_job(tmp_path, cfg, {}, 0, "sweep")
    record = json.loads((job_dir / "job.json").read_text())
    record["config"]["lr"] = 0.1
    (job_dir / "job.json").write_text(json.dumps(record))
    with pytest.raises(jobs.JobError, match="another experiment"):
        jobs.write_job(tmp_path, cfg, {}, 0, "sweep")


def _experiment_files(run_dir: Path):
    summary = json.loads((run_dir / "summary.json").read_text())
    for key in ("seconds", "eval_seconds", "run_dir"):
        summary.pop(key)
    return (run_dir / "metrics.jsonl").read_text(), summary


DRIVER = """
import sys, dann_launchers
from dann_core.config import RunConfig
from dann_core.testing import registry_with
from dann_evaluation.sweep import run_sweep
settings = {settings!r}
result = run_sweep(RunConfig(**settings), {{"lambda": [0.0, 0.1, 0.2, 0.3]}}, {out!r}, select="source-val",
                   registry=registry_with(dann_launchers), workers=2)
print(result["launch"].summary())
"""


def test_a_killed_worker_is_resumed_alone_and_ends_as_its_uninterrupted_twin(tmp_path, registry):
    """4 moons jobs on 2 local workers; SIGKILL one mid-job; the relaunch runs only that job, and its
    metrics and summary equal those of the same run trained without interruption."""
    from dann_core.train import train

    settings = {**CHEAP, "steps": 160, "eval_every": 10}
    out = tmp_path / "sweep"
    driver = subprocess.Popen([sys.executable, "-c", DRIVER.format(settings=settings, out=str(out))], env=ENV,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    killed = None
    deadline = time.monotonic() + 120
    while killed is None and time.monotonic() < deadline and driver.poll() is None:
        for job_dir in sorted(out.glob("jobs/*")):
            state = jobs.job_state(job_dir)
            if state.state == "running" and state.step is not None and 30 <= state.step < 140:
                os.kill(int(state.pid), signal.SIGKILL)
                killed = job_dir
                break
        time.sleep(0.05)
    stdout, stderr = driver.communicate(timeout=180)
    assert killed is not None, f"no job was caught mid-run: {stderr[-2000:]}"
    assert driver.returncode == 0, stderr
    states = {d.name: jobs.job_state(d).state for d in out.glob("jobs/*")}
    assert states[killed.name] == "interrupted" and sorted(states.values()) == ["done", "done", "done", "interrupted"], states
    finished = {d: (d / "run" / "summary.json").read_bytes() for d in out.glob("jobs/*") if d != killed}

    result = run_sweep(RunConfig(**settings), {"lambda": [0.0, 0.1, 0.2, 0.3]}, out, select="source-val", registry=registry, workers=2)
    assert result["launch"].ran == [killed.name]
    assert all((d / "run" / "summary.json").read_bytes() == before for d, before in finished.items())  # not trained twice
    assert [row["status"] for row in result["rows"]] == ["ok"] * 4

    record = jobs.read_job(killed)
    threads = json.loads((killed / "run" / "config.json").read_text())["threads"]  # threads change float rounding
    twin_cfg = dataclasses.replace(RunConfig.from_dict(record["config"]), threads=threads)
    train(twin_cfg, run_dir=tmp_path / "twin")
    assert _experiment_files(killed / "run") == _experiment_files(tmp_path / "twin")


def test_failed_jobs_are_retried_only_when_asked(tmp_path, registry):
    job_dir = jobs.write_job(tmp_path, RunConfig(**CHEAP), {"lr": "0.3"}, 0, "sweep")
    (job_dir / "error").write_text("OSError: disk full\n")
    launcher = build_launcher(registry, "local", 1)
    assert launch_jobs([job_dir], launcher).ran == []
    again = launch_jobs([job_dir], launcher, retry_failed=True)
    assert again.ran == [job_dir.name] and again.states[job_dir.name].state == "done"


def test_bad_launcher_requests_are_one_line_errors(registry):
    from dann_core.plugins import InvalidOptionError, UnknownComponentError

    with pytest.raises(UnknownComponentError, match="unknown launcher 'lokal'; did you mean 'local'"):
        build_launcher(registry, "lokal", 1)
    with pytest.raises(InvalidOptionError, match="unknown option 'thread'"):
        build_launcher(registry, "local[thread=2]", 1)
    with pytest.raises(ValueError, match="--workers must be ≥ 1"):
        build_launcher(registry, "local", 0)
    assert build_launcher(registry, "local[threads=3]", 2).threads == 3


def test_local_workers_share_the_cores(registry, monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(8)), raising=False)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")
    launcher = build_launcher(registry, "local", 4)
    assert launcher.threads == 2
    assert [launcher.environment(i)["CUDA_VISIBLE_DEVICES"] for i in range(4)] == ["0", "1", "0", "1"]


def test_ranges_need_a_search_and_last_is_refused(tiny_config, registry):
    from dann_evaluation.grid import parse_grid

    with pytest.raises(SweepError, match="a range needs --search optuna"):
        validate_grid(parse_grid(["lr=logrange:0.01:1"]), tiny_config, registry)
    with pytest.raises(SweepError, match="bad 'lr=logrange:0:1'"):
        parse_grid(["lr=logrange:0:1"])
    with pytest.raises(SweepError, match="selector last ranks the checkpoints of one run"):
        run_sweep(tiny_config, {"lr": [0.1]}, "unused", select="last", registry=registry)


def test_optuna_search_of_4_trials_resumes_from_its_job_directories(tmp_path, registry):
    pytest.importorskip("optuna")
    from dann_evaluation.search import run_search

    base = RunConfig(**CHEAP)
    grid = {"lr": [__import__("dann_evaluation.grid", fromlist=["Range"]).Range(0.05, 0.5, log=True)], "lambda": [0.0, 0.3]}
    first = run_search(base, grid, tmp_path, select="source-val", trials=2, seed=3, registry=registry, workers=2)
    assert len(first["launch"].ran) == 2
    more = run_search(base, grid, tmp_path, select="source-val", trials=4, seed=3, registry=registry, workers=2)
    assert len(more["launch"].ran) == 2 and set(first["launch"].ran) < set(more["launch"].states)
    replay = run_search(base, grid, tmp_path, select="source-val", trials=4, seed=3, registry=registry, workers=2)
    assert replay["launch"].ran == []  # the seeded sampler asked the same four trials again
    assert [r["id"] for r in replay["rows"]] == [r["id"] for r in more["rows"]] and len(replay["rows"]) == 4
    assert replay["selected"]["score"] == max(r["score"] for r in replay["rows"])
    with pytest.raises(SweepError, match="--search-seed 3"):
        run_search(base, grid, tmp_path, select="source-val", trials=4, seed=4, registry=registry)


def test_status_and_collect_read_the_directories(tmp_path, cli):
    base = RunConfig(**CHEAP)
    done, failed, pending = (jobs.write_job(tmp_path, dataclasses.replace(base, lr=lr), {"lr": str(lr)}, i, "sweep") for i, lr in enumerate((0.1, 0.2, 0.3)))
    (done / "run").mkdir()
    (done / "run" / "summary.json").write_text(json.dumps(finished_summary(selector_score=0.9, best_source_val_acc=0.9, target_test_acc=0.7)))
    (done / "run" / "metrics.jsonl").write_text('{"step": 20}\n')
    (failed / "error").write_text("RunError: no labels\n")
    status = cli("sweep", "status", tmp_path)
    assert status.exit_code == 0, status.output
    assert "3 jobs: 1 done, 1 failed, 1 pending" in status.output
    assert f"{failed.name}  failed" in status.output and "RunError: no labels" in status.output and "20/20" in status.output
    collected = cli("sweep", "collect", tmp_path)
    assert collected.exit_code == 0, collected.output
    assert f"selected: lr=0.1 (job {done.name})" in collected.output
    assert (tmp_path / "sweep.csv").read_text().count("\n") == 4
    empty = cli("sweep", "collect", tmp_path / "jobs" / done.name)
    assert empty.exit_code == 2 and "holds no sweep jobs" in empty.output


def test_table_command_keeps_finished_runs_and_says_how_to_continue(tmp_path, cli):
    out = tmp_path / "table"
    first = cli("table", "--methods", "source-only", "--seeds", "0", "--steps", "10", "--set", "eval_every=5", "--out", out)
    assert first.exit_code == 0, first.output
    job_dir = next(out.glob("jobs/*"))
    (job_dir / "run" / "summary.json").unlink()  # as if killed after its last checkpoint
    (job_dir / "error").write_text("OSError: disk full\n")
    again = cli("table", "--methods", "source-only", "--seeds", "0", "--steps", "10", "--set", "eval_every=5", "--out", out)
    assert again.exit_code == 1 and "Aborted" not in again.output
    assert "1 of 1 runs failed" in again.output and "--retry-failed" in again.output
    retried = cli("table", "--methods", "source-only", "--seeds", "0", "--steps", "10", "--set", "eval_every=5", "--out", out, "--retry-failed")
    assert retried.exit_code == 0 and "| source-only |" in retried.output


def test_submitit_local_executor_runs_the_jobs(tmp_path, registry):
    pytest.importorskip("submitit")
    result = run_sweep(RunConfig(**CHEAP), {"lambda": [0.0, 0.3]}, tmp_path, select="source-val", registry=registry,
                       launcher="submitit[cluster=local]", workers=2)
    assert [row["status"] for row in result["rows"]] == ["ok", "ok"] and result["selected"] is not None


def test_ray_local_runs_the_jobs(tmp_path, registry):
    ray = pytest.importorskip("ray")
    try:
        result = run_sweep(RunConfig(**CHEAP), {"lambda": [0.0]}, tmp_path, select="source-val", registry=registry,
                           launcher="ray[cpus_per_job=1]", workers=1)
    finally:
        ray.shutdown()
    assert [row["status"] for row in result["rows"]] == ["ok"]


def test_a_lock_taken_but_not_yet_signed_reports_its_holder_not_a_question_mark(tmp_path):
    # a holder takes the flock, then writes "PID HOST": a status read in between waited for nothing
    # and reported pid "?" (a sweep drill read the job as running by "?")
    import fcntl
    import threading

    from dann_evaluation import joblock

    fd = os.open(tmp_path / joblock.LOCK_FILE, os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)

    def sign() -> None:
        time.sleep(0.3)
        os.pwrite(fd, f"{os.getpid()} {joblock._host()}\n".encode(), 0)

    signer = threading.Thread(target=sign)
    signer.start()
    try:
        assert joblock.lock_holder(tmp_path) == str(os.getpid())
    finally:
        signer.join()
        os.close(fd)
