"""Fault drills, round 2: one writer per run directory, no writes through links, a run killed before
its first checkpoint, stop signals, processes that die, and the one-line errors of issue 22.

As in tests/drills/test_faults.py: every failure a user can cause is one ``Error:`` line, exit status 2, no
traceback, and no file outside the run directory touched.
"""
from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from test_faults import KILL_RUN, TINY, assert_one_line_error, child_env, cli, dann, snapshot, tiny_config

from dann_core.train import Trainer, train
from dann_core.train import rundir


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """A finished tiny run (the metrics every interrupted copy must end with)."""
    run_dir = tmp_path_factory.mktemp("reference") / "run"
    train(tiny_config(TINY), run_dir=run_dir)
    return run_dir


def started(run_dir: Path) -> Path:
    """A run directory as ``dann run`` leaves it after start-up: config.json and a step-0 last.pt."""
    trainer = Trainer(tiny_config(TINY), run_dir=run_dir)
    trainer.start()
    trainer.release()
    return run_dir


def wait_for_metrics(process: subprocess.Popen, run_dir: Path, lines: int = 1, timeout: float = 90) -> None:
    """Wait until ``run_dir/metrics.jsonl`` holds ``lines`` lines (the run is training)."""
    deadline = time.monotonic() + timeout
    path = run_dir / "metrics.jsonl"
    while time.monotonic() < deadline:
        if path.exists() and len(path.read_bytes().splitlines()) >= lines:
            return
        assert process.poll() is None, process.stderr.read().decode() if process.stderr else "ended"
        time.sleep(0.05)
    raise AssertionError("the run never logged a line")


def popen_dann(*args: str, **kwargs) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "dann_core", *args], env=child_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            preexec_fn=_ctrl_c_delivered, **kwargs)


def _ctrl_c_delivered() -> None:
    """A shell without job control starts background commands with SIGINT ignored, and the child
    inherits it (so would dann, by design): tests that press Ctrl-C give the child the default."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


# --------------------------------------------------------------------------- 1: one writer per run


HOLDER = """
import sys, time
from pathlib import Path
from dann_core.train import rundir
held = rundir.lock(Path(sys.argv[1]))
print("held", flush=True)
time.sleep(600)
"""


def test_a_second_writer_is_refused_naming_the_holders_pid_until_the_holder_dies(tmp_path):
    run_dir = started(tmp_path / "run")
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(run_dir)], env=child_env(), stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        before = snapshot(run_dir)
        assert_one_line_error(cli("run", "--resume", str(run_dir)), str(run_dir), "is in use", f"pid {holder.pid}")
        assert snapshot(run_dir) == before
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    # the kernel drops a killed holder's lock: nothing stale is left to clean by hand
    assert cli("run", "--resume", str(run_dir)).exit_code == 0


def test_a_run_holds_its_lock_while_it_trains_and_lets_go_when_it_ends(tmp_path):
    run_dir = tmp_path / "run"
    trainer = Trainer(tiny_config(TINY), run_dir=run_dir)
    trainer.start()
    with pytest.raises(rundir.RunError, match=f"pid {os.getpid()}"):
        rundir.lock(run_dir)  # flock conflicts between two opens, even in one process
    assert (run_dir / ".lock").read_text() == f"{os.getpid()}\n"
    trainer.run()
    assert not (run_dir / ".lock").exists()  # a finished run directory holds only its files
    rundir.lock(run_dir).release()


def test_two_resumes_of_one_run_never_interleave_its_metrics(tmp_path, reference):
    run_dir = tmp_path / "run"
    first = popen_dann("run", *KILL_RUN, "--steps", "1000000", "--out", str(run_dir))  # still running when the second starts
    try:
        wait_for_metrics(first, run_dir)
        second = dann("run", "--resume", str(run_dir))
        assert_one_line_error(second, "is in use", f"pid {first.pid}")
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    steps = [json.loads(line)["step"] for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert steps == sorted(steps) and len(set(steps)) == len(steps)


# --------------------------------------------------------------------- 2: never through a symbolic link


def outside_files(tmp_path: Path) -> Path:
    outside = tmp_path / "outside"
    outside.mkdir()
    for step in (5, 10, 15):
        (outside / f"step-{step:07d}.pt").write_bytes(b"someone else's file")
    (outside / "metrics.jsonl").write_text("mine\n")
    (outside / "summary.json").write_text("{}\n")
    return outside


@pytest.mark.parametrize("name", ["candidates", "views", "metrics.jsonl", "best.pt", "summary.json"])
def test_a_link_inside_a_run_dir_is_refused_and_nothing_outside_is_touched(tmp_path, name):
    run_dir = started(tmp_path / "run")
    outside = outside_files(tmp_path)
    target = outside if name in ("candidates", "views") else outside / name
    (run_dir / name).symlink_to(target)
    before = snapshot(outside)
    result = cli("run", "--resume", str(run_dir))
    assert_one_line_error(result, str(run_dir / name), "is a symbolic link", "never writes or deletes through a link")
    assert snapshot(outside) == before


def test_the_run_dir_itself_may_be_a_link(tmp_path):
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "link").symlink_to(real)
    assert cli("run", *TINY, "--out", str(tmp_path / "link")).exit_code == 0
    assert (real / "summary.json").exists()


def test_plots_never_write_through_a_link(tmp_path, reference):
    run_dir = tmp_path / "run"
    shutil.copytree(reference, run_dir)
    outside = outside_files(tmp_path)
    (run_dir / "plots").symlink_to(outside)
    before = snapshot(outside)
    assert_one_line_error(cli("plot", str(run_dir)), str(run_dir / "plots"), "is a symbolic link")
    assert snapshot(outside) == before


# ------------------------------------------------------------ 4: killed before the first checkpoint


def test_a_run_killed_before_its_first_checkpoint_resumes_from_step_0(tmp_path, reference):
    run_dir = started(tmp_path / "run")
    (run_dir / "last.pt").unlink()  # killed between config.json and last.pt
    (run_dir / ".last.pt.drill.tmp").write_bytes(b"half")
    before = snapshot(run_dir)
    assert_one_line_error(cli("run", *TINY, "--out", str(run_dir)), "stopped before its first checkpoint", f"--resume {run_dir}")
    assert snapshot(run_dir) == before
    result = cli("run", "--resume", str(run_dir), "--json")
    assert result.exit_code == 0, result.stderr
    assert "starting it again from step 0 of 20" in result.stderr
    assert (run_dir / "metrics.jsonl").read_bytes() == (reference / "metrics.jsonl").read_bytes()
    assert not list(run_dir.glob(".*.tmp"))


def test_a_users_directory_with_a_config_json_is_still_not_a_run(tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "config.json").write_text('{"my": "own config"}')
    assert_one_line_error(cli("run", *TINY, "--out", str(mine)), "not empty", "pick another --out")
    assert_one_line_error(cli("run", "--resume", str(mine)), str(mine))


def test_resume_says_where_it_continues(tmp_path):
    run_dir = started(tmp_path / "run")
    result = cli("run", "--resume", str(run_dir))
    assert result.exit_code == 0, result.stderr
    assert f"resuming {run_dir} at step 0 of 20" in result.stderr


# ----------------------------------------------------------------- 6, 13: signals and interruptions


def test_stop_signals_end_like_ctrl_c_with_one_line_and_the_run_resumes_exactly(tmp_path):
    # One run stopped by each signal in turn, resumed after each: one reference and one start-up per
    # stop (a run per signal took three times as long, for the same checks).
    run_dir = tmp_path / "run"
    reference = tmp_path / "reference"
    train(tiny_config(KILL_RUN), run_dir=reference)
    process = popen_dann("run", *KILL_RUN, "--out", str(run_dir))
    metrics = run_dir / "metrics.jsonl"
    for stop in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        wait_for_metrics(process, run_dir, lines=(len(metrics.read_bytes().splitlines()) if metrics.exists() else 0) + 2)
        process.send_signal(stop)
        _, stderr = process.communicate(timeout=60)
        assert process.returncode == 130, (stop, stderr)
        lines = [line for line in stderr.decode().splitlines()
                 if line and not line.startswith(("recommended settings applied", "threads:", "warning:", "resuming"))]
        assert lines == [f"interrupted; continue with: dann run --resume {run_dir}"], stop
        process = popen_dann("run", "--resume", str(run_dir), "--quiet")
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 0, stderr
    assert (run_dir / "metrics.jsonl").read_bytes() == (reference / "metrics.jsonl").read_bytes()


def test_ctrl_c_during_start_up_is_one_line_not_aborted(tmp_path, monkeypatch):
    from dann_core import config as config_io

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(config_io, "resolve", interrupted)
    result = cli("run", *TINY, "--out", str(tmp_path / "run"))
    assert result.exit_code == 130
    lines = [line for line in result.stderr.splitlines() if line and not line.startswith("warning:")]
    assert lines == ["interrupted before training started; no run directory was written"]
    assert "Aborted" not in result.output and not (tmp_path / "run").exists()


def test_ctrl_c_while_a_subprocess_starts_is_one_line(tmp_path):
    process = popen_dann("run", *KILL_RUN, "--out", str(tmp_path / "run"))
    first = process.stderr.readline().decode()  # printed once the run has started: training goes on
    while first.startswith("warning:"):  # a broken plugin installed on this machine
        first = process.stderr.readline().decode()
    assert first.startswith("recommended settings applied"), first
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    lines = [line for line in stderr.decode().splitlines() if line and not line.startswith(("warning:", "threads:"))]
    assert process.returncode == 130, lines
    assert len(lines) == 1 and lines[0].startswith("interrupted"), lines
    assert "Aborted" not in lines[0]


# ---------------------------------------------------------------------------- 9: one line, no traceback


def test_rank_junk_names_the_variable(tmp_path):
    result = cli("run", *TINY, "--out", str(tmp_path / "run"), env={"RANK": "junk"})
    assert_one_line_error(result, "RANK='junk' is not an integer")
    result = cli("run", *TINY, "--out", str(tmp_path / "run"), env={"WORLD_SIZE": "two"})
    assert_one_line_error(result, "WORLD_SIZE='two' is not an integer")
    assert not (tmp_path / "run").exists()


def test_disk_full_inside_the_first_checkpoint_is_one_line_and_leaves_nothing(tmp_path, monkeypatch):
    from dann_core import files

    real_fdopen = os.fdopen

    class Full:
        """A checkpoint file on a disk that fills after 1 KiB (torch says "unexpected pos" for it)."""

        def __init__(self, file):
            self.file, self.written = file, 0

        def write(self, data):
            self.written += len(data)
            if self.written > 1024:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            return self.file.write(data)

        def __getattr__(self, name):
            return getattr(self.file, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.file.close()

    def fdopen(fd, mode="r", *args, **kwargs):
        file = real_fdopen(fd, mode, *args, **kwargs)
        return Full(file) if ".last.pt." in os.readlink(f"/proc/self/fd/{fd}") else file

    monkeypatch.setattr(files.os, "fdopen", fdopen)
    out = tmp_path / "out"
    assert_one_line_error(cli("run", *TINY, "--out", str(out)), "No space left on device", str(out / "last.pt"))
    assert not out.exists()


def test_a_foreign_file_in_candidates_is_neither_read_nor_deleted(tmp_path, reference):
    run_dir = started(tmp_path / "run")
    (run_dir / "candidates").mkdir()
    foreign = run_dir / "candidates" / "step-abc.pt"
    foreign.write_bytes(b"mine")
    assert cli("run", "--resume", str(run_dir)).exit_code == 0
    assert foreign.read_bytes() == b"mine"
    result = cli("eval", "select", str(run_dir), "--json")
    assert result.exit_code == 0, result.stderr


@pytest.mark.parametrize("provenance", ['"junk"', "[1, 2]", "{\"components\": 3}"])
def test_a_provenance_that_is_not_a_table_is_one_line(tmp_path, reference, provenance):
    run_dir = tmp_path / "run"
    shutil.copytree(reference, run_dir)
    config = json.loads((run_dir / "config.json").read_text())
    config["provenance"] = json.loads(provenance)
    (run_dir / "config.json").write_text(json.dumps(config))
    for command in (["eval", str(run_dir)], ["run", "--resume", str(run_dir)]):
        result = cli(*command)
        if result.exit_code != 0:  # a run whose components are installed needs no provenance
            assert_one_line_error(result, "config.json", "provenance")


# --------------------------------------------------------------- 14: a method's loss that is not a scalar


class PerSampleLoss:
    """A method plugin whose objective forgets to reduce its loss (one value per sample)."""

    @staticmethod
    def module():
        import types

        import torch.nn.functional as F

        from dann_core import hookimpl
        from dann_core.methods import SOURCE, Method
        from dann_core.specs import ComponentSpec

        class Unreduced(Method):
            needs = frozenset({SOURCE})

            def objective(self, batch):
                logits = self.model.classifier(self.model.backbone(batch.source_x))
                return F.cross_entropy(logits, batch.source_y, reduction="none"), {}

        module = types.ModuleType("unreduced_plugin")
        module.register_methods = hookimpl(lambda: [ComponentSpec.from_factory("unreduced", Unreduced)])
        return module


def test_an_objective_that_returns_a_non_scalar_is_one_line_naming_the_method_and_leaves_no_run(tmp_path, dann_cli):
    out = tmp_path / "out"
    result = dann_cli("run", *TINY, "--method", "unreduced", "--out", str(out), plugins=[PerSampleLoss.module()], catch_exceptions=True)
    assert_one_line_error(result, "method Unreduced", "must be a scalar tensor", "shape (16,)", "--method unreduced")
    assert not out.exists()


# ------------------------------------------------------------------ 3, 9: --nproc and processes that die


def children(pid: int) -> set[int]:
    """The direct children of ``pid`` (Linux /proc)."""
    found = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        found |= {int(child) for child in (task / "children").read_text().split()}
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


NPROC_RUN = [*KILL_RUN, "--nproc", "2"]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_killing_the_nproc_launcher_stops_every_process_and_nothing_writes_after_it(tmp_path):
    run_dir = tmp_path / "run"
    launcher = popen_dann("run", *NPROC_RUN, "--out", str(run_dir))
    try:
        wait_for_metrics(launcher, run_dir, timeout=180)
        ranks = children(launcher.pid)
        assert len(ranks) == 2, ranks
    finally:
        launcher.send_signal(signal.SIGKILL)
        launcher.wait()
    deadline = time.monotonic() + 10
    while any(alive(pid) for pid in ranks) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(alive(pid) for pid in ranks)
    before = snapshot(run_dir)
    time.sleep(1.0)
    assert snapshot(run_dir) == before
    assert dann("run", "--resume", str(run_dir)).returncode == 0


def test_ctrl_c_on_nproc_prints_one_line_once(tmp_path):
    run_dir = tmp_path / "run"
    launcher = popen_dann("run", *NPROC_RUN, "--out", str(run_dir), start_new_session=True)
    wait_for_metrics(launcher, run_dir, timeout=180)
    os.killpg(launcher.pid, signal.SIGINT)  # what a terminal's Ctrl-C does: the whole foreground group
    _, stderr = launcher.communicate(timeout=60)
    lines = [line for line in stderr.decode().splitlines() if line and not line.startswith(("recommended settings applied", "threads:", "warning:"))]
    assert launcher.returncode == 130, stderr.decode()
    assert lines == [f"interrupted; continue with: dann run --resume {run_dir}"], stderr.decode()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_killed_nproc_process_is_one_line_not_a_traceback(tmp_path):
    run_dir = tmp_path / "run"
    launcher = popen_dann("run", *NPROC_RUN, "--out", str(run_dir))
    wait_for_metrics(launcher, run_dir, timeout=180)
    ranks = sorted(children(launcher.pid))
    os.kill(ranks[-1], signal.SIGKILL)
    _, stderr = launcher.communicate(timeout=120)
    text = stderr.decode()
    assert launcher.returncode == 1, text
    assert "Traceback" not in text, text
    assert f"continue with: dann run --resume {run_dir}" in text or "a process failed" in text, text


def test_a_killed_dataloader_worker_is_one_line_with_the_resume_command(tmp_path, dann_cli):
    import types

    from tests.core.test_streaming import NoisyRows, lazy_moons

    from dann_core import hookimpl
    from dann_core.specs import ComponentSpec

    class DyingRows(NoisyRows):
        """Rows whose DataLoader worker dies (SIGKILL, as the out-of-memory killer does) at its first read."""

        parent = os.getpid()

        def read(self, index, augment_seed=None):
            if os.getpid() != self.parent:
                os.kill(os.getpid(), signal.SIGKILL)
            return super().read(index, augment_seed)

    def make(seed, n_per_class: int = 30, n_test_per_class: int = 40):
        from dann_datasets.moons import make_moons_problem

        data = lazy_moons(make_moons_problem(seed, n_per_class=30, n_test_per_class=40), 0.0, 1)
        data.source_train.x.__class__ = DyingRows
        return data

    module = types.ModuleType("dying_rows_plugin")
    module.register_datasets = hookimpl(lambda: [ComponentSpec.from_factory("dying-moons", make)])
    out = tmp_path / "out"
    result = dann_cli("run", *TINY, "--dataset", "dying-moons", "--out", str(out), plugins=[module], catch_exceptions=True)
    assert_one_line_error(result, "a data-loading worker process died", f"continue with: dann run --resume {out}")


# ------------------------------------------------------------ 12: dann eval select shows progress, caches


def test_eval_select_shows_progress_caches_its_scores_and_can_skip_reverse_val(tmp_path, reference):
    run_dir = tmp_path / "run"
    shutil.copytree(reference, run_dir)
    first = cli("eval", "select", str(run_dir), "--json")
    assert first.exit_code == 0, first.stderr
    kept = len(list((run_dir / "candidates").glob("step-*.pt")))
    progress = [line for line in first.stderr.splitlines() if line.startswith("reverse-val: scoring candidate")]
    assert len(progress) == kept and progress[-1].startswith(f"reverse-val: scoring candidate {kept} of {kept}")
    assert (run_dir / "select-cache.json").exists()
    again = cli("eval", "select", str(run_dir), "--json")
    assert again.exit_code == 0 and "scoring candidate" not in again.stderr
    assert json.loads(again.stdout) == json.loads(first.stdout)
    skipped = cli("eval", "select", str(run_dir), "--json", "--skip", "reverse-val", "--no-cache")
    assert skipped.exit_code == 0 and "reverse-val: scoring candidate" not in skipped.stderr
    assert "reverse-val" not in [row["selector"] for row in json.loads(skipped.stdout)["rows"]]
    assert_one_line_error(cli("eval", "select", str(run_dir), "--skip", "reverse-vall"), "--skip reverse-vall: no such selector")
