"""Fault drills: what a user meets when runs are killed, files rot, plugins break or settings are wrong.

Each failure must end with exit status 2 and one ``Error:`` line naming the culprit, no traceback,
and no file the user already had changed. Kills and broken installed plugins go through real ``dann``
subprocesses; the other cases run the same command line in-process (CliRunner) to keep this fast.
"""
from __future__ import annotations

import errno
import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from dann_core import config as config_io
from dann_core.cli import build_cli
from dann_core.train import train

STEPS = ["--steps", "20", "--eval-every", "5", "--batch-size", "16", "--kernels", "reference", "--quiet"]
TINY = [*STEPS, "--set", "dataset.n_per_class=30", "--set", "dataset.n_test_per_class=40"]
KILL_RUN = ["--steps", "240", "--eval-every", "2", "--batch-size", "16", "--kernels", "reference", "--quiet",
            "--set", "dataset.n_per_class=30", "--set", "dataset.n_test_per_class=40"]
"""Long enough (120 checkpoints) that a kill lands during training and often during a checkpoint write."""


# ------------------------------------------------------------------------------------- helpers


def cli(*args: str, env: dict | None = None):
    return CliRunner(env=env).invoke(build_cli(), list(args))


def dann(*args: str, pythonpath: Path | None = None, env: dict | None = None, **popen) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dann_core", *args], env=child_env(pythonpath, env), capture_output=True, text=True, timeout=120, **popen)


def child_env(pythonpath: Path | None = None, extra: dict | None = None) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("DANN_KERNELS", "DANN_DISABLE_PLUGIN_AUTOLOAD")}
    if pythonpath is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(pythonpath), *filter(None, [env.get("PYTHONPATH")])])
    env.update(extra or {})
    return env


def assert_one_line_error(result, *fragments: str, code: int = 2) -> str:
    """Exit ``code``, stderr ending in a single ``Error:`` line holding ``fragments``, nothing on stdout, no traceback."""
    stderr = result.stderr
    stdout = result.stdout
    exit_code = getattr(result, "exit_code", getattr(result, "returncode", None))
    assert exit_code == code, (exit_code, stdout, stderr)
    if hasattr(result, "exception") and result.exception is not None:
        assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in stdout + stderr, stderr
    lines = stderr.strip().splitlines()
    errors = [line for line in lines if line.startswith("Error:")]
    assert len(errors) == 1 and lines[-1] == errors[0], stderr
    assert all(line.startswith(("warning:", "recommended settings applied:", "threads:", "Error:")) for line in lines), stderr
    for fragment in fragments:
        assert fragment in errors[0], (fragment, errors[0])
    assert stdout == "", stdout
    return errors[0]


def snapshot(*roots: Path) -> dict[str, tuple[str, int, int]]:
    """(content hash, mode, mtime) of every file under ``roots``: what "nothing changed" compares."""
    found = {}
    for root in roots:
        paths = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []
        for path in paths:
            stat = path.stat()
            found[str(path)] = (hashlib.sha256(path.read_bytes()).hexdigest(), stat.st_mode, stat.st_mtime_ns)
    return found


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory) -> Path:
    """A finished tiny run, trained in-process once; tests copy it."""
    run_dir = tmp_path_factory.mktemp("template") / "run"
    train(tiny_config(TINY), run_dir=run_dir)
    return run_dir


def tiny_config(args: list[str]):
    """The RunConfig ``dann run ARGS`` resolves (so an in-process run matches a subprocess one)."""
    flags, sets, it = {}, [], iter(args)
    for arg in it:
        if arg == "--quiet":
            continue
        value = next(it)
        if arg == "--set":
            sets.append(value)
        else:
            flags[arg[2:].replace("-", "_")] = value
    return config_io.resolve(sets=sets, flags=flags)


@pytest.fixture
def run_copy(finished_run, tmp_path) -> Path:
    target = tmp_path / "run"
    shutil.copytree(finished_run, target)
    return target


# ------------------------------------------------------------------------- kills, resume, leaks


def test_sigkill_at_random_moments_then_resume_gives_identical_metrics(tmp_path):
    reference = tmp_path / "reference"
    train(tiny_config(KILL_RUN), run_dir=reference)
    out = tmp_path / "killed"
    rng = random.Random(int.from_bytes(os.urandom(4), "little"))
    kill_after = [rng.uniform(0.0, 0.5) for _ in range(2)]
    for attempt, delay in enumerate(kill_after):
        args = ["run", *KILL_RUN, "--out", str(out)] if attempt == 0 else ["run", "--resume", str(out), "--quiet"]
        process = subprocess.Popen([sys.executable, "-m", "dann_core", *args], env=child_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        started = len((out / "metrics.jsonl").read_bytes().splitlines()) if (out / "metrics.jsonl").exists() else 0
        deadline = time.monotonic() + 60
        while process.poll() is None and time.monotonic() < deadline:  # wait until this process has trained a little
            if (out / "metrics.jsonl").exists() and len((out / "metrics.jsonl").read_bytes().splitlines()) > started:
                break
            time.sleep(0.02)
        time.sleep(delay)
        process.send_signal(signal.SIGKILL)
        assert process.wait() == -signal.SIGKILL, f"attempt {attempt} ended before the kill: {process.stderr.read().decode()}"
        assert (out / "last.pt").exists(), f"attempt {attempt} (kill after {delay:.2f} s): {process.stderr.read().decode()}"
    leftover = out / ".last.pt.drill1234.tmp"  # what a kill inside atomic_write leaves behind
    leftover.write_bytes(b"half a checkpoint")
    users = out.parent / "notes.tmp"
    users.write_text("mine")
    finished = dann("run", "--resume", str(out), "--json")
    assert finished.returncode == 0, (kill_after, finished.stderr)
    assert (out / "metrics.jsonl").read_bytes() == (reference / "metrics.jsonl").read_bytes(), kill_after
    summary, expected = json.loads(finished.stdout), json.loads((reference / "summary.json").read_text())
    drop = ("seconds", "eval_seconds", "run_dir")
    assert {k: v for k, v in summary.items() if k not in drop} == {k: v for k, v in expected.items() if k not in drop}
    assert not leftover.exists() and not list(out.glob(".*.tmp")) and users.read_text() == "mine"
    modes = {path.name: path.stat().st_mode & 0o777 for path in out.rglob("*") if path.is_file()}
    assert len(set(modes.values())) == 1, modes  # checkpoints get the same permissions as the other files

    before = snapshot(out)  # resuming a finished run retrains nothing and rewrites nothing
    again = cli("run", "--resume", str(out), "--json")
    assert again.exit_code == 0 and json.loads(again.stdout) == summary
    assert "already finished" in again.stderr and snapshot(out) == before


# ------------------------------------------------------------------------------ the run directory


def test_out_never_takes_over_a_directory_that_is_not_a_new_run(tmp_path, run_copy):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "config.json").write_text('{"my": "own config"}')
    (mine / "metrics.jsonl").write_text('{"step": 25}\n')
    a_file = tmp_path / "a_file"
    a_file.write_text("data")
    (run_copy / "last.pt").unlink()  # a run whose last.pt was deleted must not get a second run's lines
    before = snapshot(tmp_path)
    assert_one_line_error(cli("run", *TINY, "--out", str(mine)), str(mine), "not empty", "pick another --out")
    assert_one_line_error(cli("run", *TINY, "--out", str(run_copy)), str(run_copy), "not empty")
    assert_one_line_error(cli("run", *TINY, "--out", str(a_file)), str(a_file), "is a file")
    assert snapshot(tmp_path) == before
    empty = tmp_path / "empty"
    empty.mkdir()
    assert cli("run", *TINY, "--out", str(empty)).exit_code == 0 and (empty / "last.pt").exists()


def test_resume_of_a_run_dir_holding_a_run_says_so(run_copy):
    before = snapshot(run_copy)
    assert_one_line_error(cli("run", *TINY, "--out", str(run_copy)), "already holds a run", f"--resume {run_copy}")
    assert snapshot(run_copy) == before


# -------------------------------------------------------------------------------- corrupt files


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


@pytest.mark.parametrize(
    ("damage", "command", "culprit", "fragment"),
    [
        (lambda d: _truncate(d / "last.pt"), "resume", "last.pt", "not a readable dann checkpoint"),
        (lambda d: (d / "last.pt").write_bytes(b""), "resume", "last.pt", "is empty (0 bytes)"),
        (lambda d: (d / "last.pt").write_bytes(b"garbage\n" * 20), "resume", "last.pt", "not a readable dann checkpoint"),
        (lambda d: (d / "best.pt").write_bytes(os.urandom(4096)), "eval", "best.pt", "not a readable dann checkpoint"),
        (lambda d: _truncate(d / "best.pt"), "eval", "best.pt", "restore it from a copy"),
        (lambda d: (d / "config.json").write_text("{ not json"), "eval", "config.json", "cannot parse config file"),
        (lambda d: (d / "config.json").write_text("{ not json"), "resume", "config.json", "cannot parse config file"),
    ],
    ids=["truncated-last", "empty-last", "garbage-last", "garbage-best", "truncated-best", "config-eval", "config-resume"],
)
def test_corrupt_run_file_is_one_line_naming_it(run_copy, damage, command, culprit, fragment):
    (run_copy / "summary.json").unlink()  # an unfinished run, so resume reads last.pt
    damage(run_copy)
    before = snapshot(run_copy)
    args = ["run", "--resume", str(run_copy)] if command == "resume" else ["eval", str(run_copy)]
    line = assert_one_line_error(cli(*args), str(run_copy / culprit), fragment)
    assert "weights_only" not in line
    assert snapshot(run_copy) == before


def test_malformed_metrics_line_names_file_and_line(run_copy):
    (run_copy / "summary.json").unlink()
    lines = (run_copy / "metrics.jsonl").read_text().splitlines()
    (run_copy / "metrics.jsonl").write_text("\n".join([lines[0], "[1, 2]", *lines[2:]]) + "\n")
    before = snapshot(run_copy)
    assert_one_line_error(cli("run", "--resume", str(run_copy)), f"{run_copy / 'metrics.jsonl'} line 2")
    assert snapshot(run_copy) == before


def test_torn_last_metrics_line_is_dropped_on_resume(run_copy):
    (run_copy / "summary.json").unlink()
    expected = (run_copy / "metrics.jsonl").read_bytes()
    with (run_copy / "metrics.jsonl").open("ab") as file:
        file.write(b'{"step": 25, "label_lo')  # a kill in the middle of a line
    assert cli("run", "--resume", str(run_copy)).exit_code == 0
    assert (run_copy / "metrics.jsonl").read_bytes() == expected


def test_corrupt_summary_does_not_block_eval(run_copy):
    (run_copy / "summary.json").write_bytes(b"\x00\xff{")
    before = snapshot(run_copy)
    result = cli("eval", str(run_copy), "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["target_test_acc"] is not None and snapshot(run_copy) == before


def test_checkpoint_that_does_not_fit_the_config_is_one_line(run_copy):
    config = json.loads((run_copy / "config.json").read_text())
    config["backbone_options"] = {"width": 7}  # an edited config.json
    (run_copy / "config.json").write_text(json.dumps(config))
    before = snapshot(run_copy)
    assert_one_line_error(cli("eval", str(run_copy)), str(run_copy / "best.pt"), "does not fit this run's config.json")
    assert snapshot(run_copy) == before


# ------------------------------------------------------------------------------------- bad npz


def _npz_cases(root: Path) -> dict[str, tuple[Path, str]]:
    good = {"xs": np.zeros((20, 2), np.float32), "ys": np.arange(20) % 2, "xt": np.zeros((20, 2), np.float32)}
    cases: dict[str, tuple[Path, str]] = {}

    def case(name: str, fragment: str) -> Path:
        path = root / name
        cases[name] = (path, fragment)
        return path

    case("empty.npz", "is not a .npz archive").write_bytes(b"")
    np.save(root / "array.npy", good["xs"])
    (root / "array.npy").rename(case("renamed.npz", "single .npy array"))
    np.savez(root / "whole.npz", **good)
    case("truncated.npz", "truncated or corrupt").write_bytes((root / "whole.npz").read_bytes()[:300])
    case("text.npz", "some other kind of file").write_text("xs,ys,xt\n1,2,3\n")
    case("folder.npz", "is a directory").mkdir()
    np.savez(case("huge_label.npz", "label 1000000000"), **{**good, "ys": np.array([10**9] + [0] * 19)})
    np.savez(case("uint64.npz", f"label {2**63 + 5}"), **{**good, "ys": np.array([2**63 + 5] + [0] * 19, dtype=np.uint64)})
    with zipfile.ZipFile(case("bad_member.npz", "a member is not a valid .npy array"), "w") as archive:
        archive.writestr("xs.npy", b"\x93NUMPY garbage")
    cases["missing.npz"] = (root / "missing.npz", "no such file")
    return cases


def test_every_bad_npz_is_one_line_naming_the_file(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    cases = _npz_cases(data)
    before = snapshot(data)
    for name, (path, fragment) in cases.items():
        out = tmp_path / f"out-{name}"
        result = cli("run", *STEPS, "--dataset", "npz", "--set", f"dataset.path={path}", "--out", str(out))
        assert_one_line_error(result, str(path), fragment)
        assert not out.exists(), name
    assert snapshot(data) == before


# -------------------------------------------------------------------------------- bad settings


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--lr", "nan"], "'lr': expected a finite float"),
        (["--lr", "inf"], "'lr': expected a finite float"),
        (["--lr", "1e9"], "lr must be a number in (0, 10]"),
        (["--lambda", "nan"], "bad λ 'nan'"),
        (["--gamma", "inf"], "option 'gamma' expects a finite float"),
        (["--set", "method.gamma=nan"], "option 'gamma' expects a finite float"),
        (["--seed", "99999999999999999999"], "seed must be an integer in [0, 4294967295]"),
        (["--batch-size", "100000"], "batch_size 100000 is larger than every split"),
        (["--batch-size", "1000000000"], "batch_size must be at most 1048576, got 1000000000"),
        (["--threads", "100000"], "threads must be at most 1024, got 100000"),  # segfaulted and starved the machine
        (["--steps", "10000000000"], "steps must be at most 1000000000"),
        (["--eval-every", "10000000000"], "eval_every must be at most 1000000000"),
        (["--keep-candidates", "100000"], "keep_candidates must be at most 1000"),
        (["--set", "bottleneck=1e9"], "bottleneck must be at most 16384"),  # a 60 GB allocation traceback
        (["--lambda", "1e308"], "method.lambda must be a finite number of magnitude at most 1000"),  # float32 overflow traceback
        (["--set", "method.lambda=1e308"], "method.lambda must be a finite number of magnitude at most 1000"),
        (["--gamma", "1e308"], "method.gamma must be a finite number of magnitude at most 1000"),
        (["--device", "meta"], "device 'meta' cannot train"),
        (["--device", "bogus"], "unknown device 'bogus'"),
        (["--device", "mps"], "device 'mps'"),
        (["--momentum", "1.5"], "momentum must be a number in [0, 1)"),
        (["--backbone", "resnet18"], "needs torchvision: pip install torchvision"),
    ],
    ids=lambda value: "_".join(value) if isinstance(value, list) else None,
)
def test_bad_setting_is_one_line_and_creates_no_run_dir(tmp_path, monkeypatch, args, fragment):
    if "resnet18" in args:
        monkeypatch.setitem(sys.modules, "torchvision", None)  # torchvision not installed
        args = [*args, "--dataset", "digits-blend", "--set", "dataset.n_images=300"]
    out = tmp_path / "out"
    tiny = STEPS if "resnet18" in args else TINY
    assert_one_line_error(cli("run", *tiny, *args, "--out", str(out)), fragment)
    assert not out.exists()


def test_alias_bomb_config_is_one_short_line_and_creates_no_run_dir(tmp_path):
    """A 1.4 KB YAML alias bomb once grew to a 58 MB error line (1.1 GB in memory)."""
    levels = ["a0: &a0 [" + ", ".join(["lol"] * 10) + "]"]
    levels += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 10)]
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text("\n".join(levels) + "\ndataset_options: {x: *a9}\n")
    assert bomb.stat().st_size < 1600  # 10^10 strings once expanded
    out = tmp_path / "out"
    error = assert_one_line_error(cli("run", *TINY, "--config", str(bomb), "--out", str(out)), "aliases expand to more than 100000 values")
    assert len(error) < 500 and not out.exists()
    flat = "{" + ", ".join(levels) + "}"
    error = assert_one_line_error(cli("run", *TINY, "--set", f"dataset.x={flat}", "--out", str(out)), "--set 'dataset.x': YAML")
    assert len(error) < 500 and not out.exists()


def test_eval_with_a_bad_device_is_one_line(run_copy):
    assert_one_line_error(cli("eval", str(run_copy), "--device", "bogus"), "unknown device 'bogus'")
    assert_one_line_error(cli("eval", str(run_copy), "--device", "meta"), "device 'meta' cannot")


def test_bad_kernels_variable_is_one_line_not_an_import_traceback(tmp_path):
    result = dann("run", *TINY, "--out", str(tmp_path / "out"), env={"DANN_KERNELS": "bogus"})
    assert_one_line_error(result, "DANN_KERNELS='bogus' is not one of auto, ext, reference")
    assert not (tmp_path / "out").exists()


def test_disk_full_while_training_is_one_line_with_the_resume_command(tmp_path, monkeypatch):
    from dann_core import files

    real_fsync, calls = os.fsync, []

    def fsync(fd):
        calls.append(fd)
        if len(calls) > 6:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_fsync(fd)

    monkeypatch.setattr(files.os, "fsync", fsync)
    out = tmp_path / "out"
    line = assert_one_line_error(cli("run", *TINY, "--out", str(out)), "No space left on device", f"dann run --resume {out}")
    assert str(out) in line and not list(out.glob(".*.tmp"))
    monkeypatch.setattr(files.os, "fsync", real_fsync)
    assert cli("run", "--resume", str(out)).exit_code == 0  # the last complete checkpoint survived


def test_permission_denied_at_start_is_one_line_and_leaves_nothing(tmp_path, monkeypatch):
    import tempfile

    def denied(*args, dir=None, **kwargs):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(dir))

    monkeypatch.setattr(tempfile, "mkstemp", denied)
    out = tmp_path / "out"
    assert_one_line_error(cli("run", *TINY, "--out", str(out)), "Permission denied", str(out))
    assert not out.exists()


def test_file_size_limit_at_start_is_one_line_and_leaves_nothing(tmp_path):
    import resource

    def limit_file_size():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # write() then fails with EFBIG, as on a full disk
        resource.setrlimit(resource.RLIMIT_FSIZE, (8192, 8192))

    out = tmp_path / "out"
    result = dann("run", *TINY, "--out", str(out), preexec_fn=limit_file_size)
    assert_one_line_error(result, str(out / "last.pt"), "File too large")
    assert not out.exists()


# ------------------------------------------------------------------------------ broken plugins


GOOD_PLUGIN = '''
from dann_core import hookimpl
from dann_core.specs import ComponentSpec
from dann_datasets.moons import make_moons_problem

def blobs(seed: int, n_per_class: int = 30, n_test_per_class: int = 40):
    """moons under another name."""
    return make_moons_problem(seed, n_per_class=n_per_class, n_test_per_class=n_test_per_class)

@hookimpl
def register_datasets():
    return [ComponentSpec.from_factory("blobs", blobs)]
'''
BROKEN_PLUGINS = {
    "dann-raises": ("import os\nopen(os.environ['MARKER'], 'w').write('imported')\nraise ImportError('needs libfoo')\n", "ImportError: needs libfoo"),
    "dann-exits": ("import sys\nsys.exit(3)\n", "SystemExit: 3"),
    "dann-hook-raises": ("from dann_core import hookimpl\n@hookimpl\ndef register_backbones():\n    raise KeyError('width')\n",
                         "register_backbones() raised KeyError: 'width'"),
    "dann-bare-spec": ("from dann_core import hookimpl\nfrom dann_core.specs import ComponentSpec\n@hookimpl\ndef register_datasets():\n"
                       "    return ComponentSpec.from_factory('bare', lambda seed: None)\n",
                       "register_datasets() returned a ComponentSpec, expected a list"),
    "dann-commands-raise": ("from dann_core import hookimpl\n@hookimpl\ndef register_commands(cli):\n    raise RuntimeError('no cli for you')\n",
                            "RuntimeError: no cli for you"),
}


def install(site: Path, distribution: str, source: str) -> str:
    """A real installed distribution on ``site``: a dist-info with a ``dann`` entry point and its module."""
    module = distribution.replace("-", "_") + "_plugin"
    info = site / f"{distribution.replace('-', '_')}-0.3.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {distribution}\nVersion: 0.3.0\n")
    (info / "entry_points.txt").write_text(f"[dann]\n{distribution.removeprefix('dann-')} = {module}\n")
    (site / f"{module}.py").write_text(source)
    return module


@pytest.fixture
def broken_site(tmp_path) -> Path:
    site = tmp_path / "site"
    for distribution, (source, _) in BROKEN_PLUGINS.items():
        install(site, distribution, source)
    return site


def test_broken_plugins_are_listed_and_others_still_run(tmp_path, broken_site):
    marker = tmp_path / "imported"
    env = {"MARKER": str(marker)}
    listed = dann("plugins", pythonpath=broken_site, env=env)
    assert listed.returncode == 0 and "Traceback" not in listed.stderr and listed.stderr == "", listed.stderr
    for distribution, (_, error) in BROKEN_PLUGINS.items():
        name = distribution.removeprefix("dann-")
        assert f"{name} ({distribution} 0.3.0)\n  BROKEN, skipped: " in listed.stdout, (name, listed.stdout)
        assert error in listed.stdout, error
    assert "moons" in listed.stdout  # the built-ins are still there

    out = tmp_path / "out"
    ran = dann("run", *TINY, "--out", str(out), pythonpath=broken_site, env=env)
    assert ran.returncode == 0, ran.stderr
    warnings = [line for line in ran.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == len(BROKEN_PLUGINS) and "Traceback" not in ran.stderr, ran.stderr
    assert all("is broken and was skipped" in line for line in warnings)

    marker.unlink()
    isolated = dann("--no-plugins", "run", *TINY, "--out", str(tmp_path / "out2"), pythonpath=broken_site, env=env)
    assert isolated.returncode == 0 and "warning" not in isolated.stderr, isolated.stderr
    assert not marker.exists()  # --no-plugins never imports a third-party plugin


def test_a_command_that_needs_a_broken_plugin_names_it(tmp_path, monkeypatch):
    site = tmp_path / "site"
    install(site, "dann-blobs", GOOD_PLUGIN)
    out = tmp_path / "run"
    monkeypatch.syspath_prepend(str(site))
    assert cli("run", *TINY, "--dataset", "blobs", "--out", str(out)).exit_code == 0
    (site / "dann_blobs_plugin.py").write_text("raise ImportError('blobs needs libfoo')\n")  # the package breaks later
    monkeypatch.delitem(sys.modules, "dann_blobs_plugin", raising=False)
    before = snapshot(out)
    assert_one_line_error(cli("eval", str(out)), "came from dann-blobs, which is installed but broken", "blobs needs libfoo")
    assert_one_line_error(cli("run", *TINY, "--dataset", "blobs", "--out", str(tmp_path / "new")), "unknown dataset 'blobs'", "broken plugin 'blobs'", "libfoo")
    assert snapshot(out) == before and not (tmp_path / "new").exists()


CONTRACT_PLUGIN = '''
import torch
from torch import nn
from dann_core import hookimpl
from dann_core.specs import ComponentSpec

def returns_a_dict(seed: int):
    """Not a DomainData."""
    return {"xs": 1}

def key_error(seed: int):
    """Raises inside the factory."""
    return {}["xs"]

def headless(input_shape):
    """No default_head."""
    module = nn.Flatten()
    module.out_features = 2
    return module

class Liar(nn.Module):
    """Says 7 features, returns 5."""
    out_features = 7
    def __init__(self, input_shape):
        super().__init__()
        self.layer = nn.Linear(int(input_shape[0]), 5)
    def forward(self, x):
        return self.layer(x)
    def default_head(self, num_classes):
        return nn.Linear(7, num_classes)

@hookimpl
def register_datasets():
    return [ComponentSpec.from_factory("dict-data", returns_a_dict), ComponentSpec.from_factory("key-error", key_error)]

@hookimpl
def register_backbones():
    return [ComponentSpec.from_factory("headless", headless), ComponentSpec.from_factory("liar", Liar)]
'''


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["--dataset", "dict-data"], ["dataset 'dict-data' of plugin 'contract' (dann-contract 0.3.0) returned a dict, expected a dann_core.specs.DomainData"]),
        (["--dataset", "key-error"], ["dataset 'key-error' of plugin 'contract'", "failed: KeyError: 'xs'"]),
        (["--backbone", "headless"], ["backbone 'headless' of plugin 'contract'", "without a default_head"]),
        (["--backbone", "liar"], ["backbone 'liar' of plugin 'contract'", "says out_features=7 but maps 2 inputs to (2, 5)"]),
    ],
    ids=["wrong-type", "key-error", "no-head", "wrong-width"],
)
def test_plugin_contract_violations_are_one_line_naming_the_plugin(tmp_path, monkeypatch, args, fragments):
    site = tmp_path / "site"
    install(site, "dann-contract", CONTRACT_PLUGIN)
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.delitem(sys.modules, "dann_contract_plugin", raising=False)
    out = tmp_path / "out"
    assert_one_line_error(cli("run", *STEPS, *args, "--out", str(out)), *fragments)
    assert not out.exists()


def test_help_lists_commands_despite_broken_plugins(tmp_path, broken_site, monkeypatch):
    monkeypatch.setenv("MARKER", str(tmp_path / "imported"))
    monkeypatch.syspath_prepend(str(broken_site))
    for distribution in BROKEN_PLUGINS:
        monkeypatch.delitem(sys.modules, distribution.replace("-", "_") + "_plugin", raising=False)
    result = cli("--help")
    assert result.exit_code == 0 and result.exception is None, result.output
    assert "  run " in result.stdout and "  sweep " in result.stdout
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    # --help imports plugins and calls register_commands only; the component hooks run when a command needs them
    assert sorted(line.split("'")[1] for line in warnings) == ["commands-raise", "exits", "raises"], result.stderr
