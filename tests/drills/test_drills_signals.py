"""Stop-signal drills of issue 31, through real processes (the signal or the environment is the point).

- A stop signal never gets lost: it lands inside os.fork's after-fork hooks (evaluation of streamed
  data starts DataLoader workers each time) and is only recorded there; the loop stops after the step.
- Ctrl-C, TERM and HUP, to the run or to its whole process group, end a streamed run with the one
  "continue with" line: the DataLoader workers ignore them and are shut down by the run.
- ``dann sweep`` treats TERM like Ctrl-C, its job processes die with it even when it is SIGKILLed,
  and the next launch takes their jobs back.
- A torchrun environment without its other processes: a rendezvous timeout and one line, and TERM
  or Ctrl-C work while waiting.
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from test_faults import child_env
from test_faults_run_dirs import alive, children

from dann_evaluation import jobs

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux signals, /proc and prctl")

STREAMED = ["--set", "dataset.stream=on", "--set", "dataset.workers=2", "--steps", "3000", "--eval-every", "5", "--batch-size", "32",
            "--threads", "1", "--kernels", "reference", "--quiet"]
"""Item 1's command: streamed npz rows read by 2 workers, evaluated (new workers) every few steps."""


@pytest.fixture(scope="module")
def npz_file(tmp_path_factory) -> Path:
    """A small uncompressed npz (streamable), written as tests/core/test_streaming.py writes one."""
    rng = np.random.default_rng(0)
    xs, xt = rng.standard_normal((200, 2)).astype(np.float32), rng.standard_normal((150, 2)).astype(np.float32) + 1
    path = tmp_path_factory.mktemp("npz") / "d.npz"
    np.savez(path, xs=xs, ys=(xs[:, 0] > 0).astype(np.int64), xt=xt, yt=(xt[:, 0] > 1).astype(np.int64))
    return path


def _default_stops() -> None:
    """A new process group (so the test can signal the group, as a terminal or a scheduler does),
    with SIGINT's default action (a shell script's background job starts with it ignored)."""
    os.setpgrp()
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start(*argv: str, env: dict | None = None, code: str | None = None) -> subprocess.Popen:
    command = [sys.executable, "-c", code, *argv] if code else [sys.executable, "-m", "dann_core", *argv]
    return subprocess.Popen(command, env=child_env(extra=env), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=_default_stops)


def wait_for_lines(process: subprocess.Popen, path: Path, lines: int, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and len(path.read_bytes().splitlines()) >= lines:
            return
        if process.poll() is not None:
            raise AssertionError(f"ended early ({process.returncode}): {process.stderr.read()[-3000:]}")
        time.sleep(0.05)
    process.kill()
    raise AssertionError(f"{path} never reached {lines} lines")


def finish(process: subprocess.Popen, timeout: float = 60) -> str:
    try:
        _, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:  # a lost stop: the run trains on
        os.killpg(process.pid, signal.SIGKILL)
        _, stderr = process.communicate()
        raise AssertionError(f"the stop was lost (still running after {timeout} s): {stderr[-3000:]}") from None
    return stderr


def assert_stopped_with_one_line(process: subprocess.Popen, stderr: str, run_dir: Path) -> None:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert process.returncode == 130, stderr[-3000:]
    assert lines and lines[-1] == f"interrupted; continue with: dann run --resume {run_dir}", stderr[-3000:]
    for noise in ("Traceback", "Exception ignored", "KeyboardInterrupt", "killed by signal", "ConnectionResetError", "Error"):
        assert noise not in stderr, stderr[-3000:]


# ------------------------------------------------------------------ 1: a stop is never lost or garbled

FORK_DRILL = """
import os, signal, sys
number = getattr(signal, sys.argv[1])
forks = [0]

def after_fork_in_parent():  # the signal arrives while os.fork runs its after-fork hooks
    forks[0] += 1
    if forks[0] == 7:  # the training streams start 4 workers; the 5th on are evaluation's
        os.kill(os.getpid(), number)

os.register_at_fork(after_in_parent=after_fork_in_parent)
sys.argv = ["dann", *sys.argv[2:]]
from dann_core.cli import main
main()
"""


@pytest.mark.parametrize("name", ["SIGINT"])
def test_a_stop_signal_inside_the_after_fork_hooks_still_stops_the_run(tmp_path, npz_file, name):
    """Python discards an exception raised in an after-fork hook ("Exception ignored in ... _releaseLock"):
    a handler that raised KeyboardInterrupt there lost the stop, and the run trained to its last step."""
    run_dir = tmp_path / "run"
    process = start(name, "run", "--dataset", "npz", "--set", f"dataset.path={npz_file}", *STREAMED, "--out", str(run_dir), code=FORK_DRILL)
    stderr = finish(process)
    assert_stopped_with_one_line(process, stderr, run_dir)
    assert len((run_dir / "metrics.jsonl").read_bytes().splitlines()) < 20  # stopped soon after the 7th fork


@pytest.mark.parametrize("name, to_group", [("SIGINT", False), ("SIGINT", True), ("SIGTERM", True)])
def test_a_stop_to_a_streamed_run_or_its_group_is_one_line_and_its_workers_end(tmp_path, npz_file, name, to_group):
    run_dir = tmp_path / "run"
    process = start("run", "--dataset", "npz", "--set", f"dataset.path={npz_file}", *STREAMED, "--out", str(run_dir))
    wait_for_lines(process, run_dir / "metrics.jsonl", 3)
    workers = children(process.pid)
    assert workers, "the streamed run has no DataLoader workers"
    number = getattr(signal, name)
    os.killpg(process.pid, number) if to_group else process.send_signal(number)
    stderr = finish(process)
    assert_stopped_with_one_line(process, stderr, run_dir)
    deadline = time.monotonic() + 3
    while any(alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(alive(pid) for pid in workers), "a DataLoader worker outlived its run"


# ------------------------------------------------------------ 2: a sweep's workers stop and die with it

SWEEP = ["sweep", "--grid", "lambda=0,6", "--grid", "lr=0.05,0.1", "--steps", "1500", "--set", "eval_every=50", "--select", "source-val",
         "--workers", "2", "--set", "threads=1", "--set", "kernels=reference"]


def running_jobs(process: subprocess.Popen, out: Path, count: int, timeout: float = 120) -> list[tuple[Path, int]]:
    """Wait until ``count`` jobs are running and have trained past their first evaluation; (job dir, pid)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        states = [(d, jobs.job_state(d)) for d in sorted(out.glob("jobs/*"))]
        running = [(d, int(s.pid)) for d, s in states if s.state == "running" and s.step is not None]
        if len(running) >= count:
            return running
        if process.poll() is not None:
            raise AssertionError(f"the sweep ended early ({process.returncode}): {process.stderr.read()[-3000:]}")
        time.sleep(0.1)
    process.kill()
    raise AssertionError("the sweep's jobs never ran")


def gone(pids, timeout: float = 30) -> bool:
    deadline = time.monotonic() + timeout
    while any(alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    return not any(alive(pid) for pid in pids)


def test_a_sweep_stops_on_term_and_its_workers_die_with_it_even_when_it_is_killed(tmp_path):
    out = tmp_path / "sweep"
    sweep = start(*SWEEP, "--out", str(out))
    running = running_jobs(sweep, out, 2)
    sweep.send_signal(signal.SIGTERM)  # a scheduler's stop: like Ctrl-C, the jobs end resumable
    stderr = finish(sweep, timeout=90)
    assert sweep.returncode == 130, stderr[-3000:]
    assert "Traceback" not in stderr and stderr.strip().splitlines()[-1].startswith("interrupted"), stderr[-3000:]
    assert gone(pid for _, pid in running)
    assert {jobs.job_state(d).state for d, _ in running} == {"interrupted"}

    again = start(*SWEEP, "--out", str(out))
    running = running_jobs(again, out, 2)
    os.kill(again.pid, signal.SIGKILL)  # no handler sees it: the jobs are told by the kernel (PR_SET_PDEATHSIG)
    again.wait()
    assert gone(pid for _, pid in running), "a job outlived its killed sweep (an orphan under PID 1)"
    assert {jobs.job_state(d).state for d, _ in running} == {"interrupted"}

    # nothing holds their locks any more: the next launch takes them back (launch_jobs runs every interrupted
    # job) and resumes them exactly (tests/builtins/test_sweep_jobs.py)
    assert all(jobs.lock_holder(d) is None for d, _ in running)


HOLD_LOCK = """
import fcntl, os, sys, time
from tests.paths import ROOT
fd = os.open(sys.argv[1], os.O_RDWR)
fcntl.flock(fd, fcntl.LOCK_EX)
print("held", flush=True)
time.sleep(float(sys.argv[2]))
open(sys.argv[1] + ".released", "w").close()  # then exits, which lets go of the lock
"""


def test_a_job_whose_killed_worker_left_its_lock_to_a_child_is_taken_back(tmp_path):
    """A job process killed at once leaves its flock to its DataLoader workers (a fork shares the locked
    file) until they notice: the job is interrupted, not running, and the next worker waits for the lock."""
    import socket as sockets

    from dann_core.testing import tiny_config

    job_dir = jobs.write_job(tmp_path, tiny_config(), {}, 0, "sweep")
    (job_dir / "run").mkdir()
    with jobs.JobLock(job_dir):
        pass  # the lock file, as a worker leaves it
    child = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(job_dir / "lock"), "1.5"], stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline().strip() == "held"
    dead = subprocess.Popen(["true"])
    dead.wait()
    (job_dir / "lock").write_text(f"{dead.pid} {sockets.gethostname()}\n")  # the killed worker's record
    assert jobs.job_state(job_dir).state == "interrupted"
    with jobs.JobLock(job_dir):
        assert (job_dir / "lock.released").exists()  # taken once the child let go, not refused as run by a dead process
    child.wait()


# ------------------------------------------------------------- 5: a torchrun environment without peers


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def peerless(rank: int, port: int, **extra: str) -> dict:
    return {"WORLD_SIZE": "2", "RANK": str(rank), "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port), **extra}


def test_a_torchrun_environment_without_its_peers_times_out_with_one_line(tmp_path):
    run_dir = tmp_path / "run"
    process = start("run", "--steps", "100", "--threads", "1", "--out", str(run_dir),
                    env=peerless(1, free_port(), DANN_RENDEZVOUS_TIMEOUT="2"))
    stderr = finish(process, timeout=90)
    assert process.returncode == 2, stderr
    lines = stderr.strip().splitlines()
    assert lines[-1].startswith("Error: process 1 of 2: the other processes of the group never joined") and "within 2 s" in lines[-1], stderr
    assert "dann run --nproc" in lines[-1] and "Traceback" not in stderr
    assert not run_dir.exists()


@pytest.mark.parametrize("name", ["SIGTERM", "SIGINT"])
def test_stop_signals_work_while_waiting_for_peers(tmp_path, name):
    run_dir, port = tmp_path / "run", free_port()
    process = start("run", "--steps", "100", "--threads", "1", "--out", str(run_dir), env=peerless(0, port))
    deadline = time.monotonic() + 120
    while True:  # rank 0 serves the group's store: once it listens, the process waits for its peer
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            assert process.poll() is None and time.monotonic() < deadline, process.stderr.read()
            time.sleep(0.1)
    time.sleep(0.3)
    process.send_signal(getattr(signal, name))
    stderr = finish(process, timeout=20)
    assert process.returncode == 130, stderr
    assert stderr.strip().splitlines()[-1] == "interrupted before training started; no run directory was written", stderr
    assert "Traceback" not in stderr and not run_dir.exists()
