"""Packaging and set-up: the licence, one version, an sdist that can build the extension, setup.py's
choice of the CUDA half and its reused build directory, and a CI script that leaves a developer's
venv alone while it runs README.md's commands."""
from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import tarfile
import types
from importlib import metadata
from pathlib import Path

import pytest

import dann_core
from tests.paths import ROOT

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_the_licence_file_is_the_mit_licence_the_metadata_declares():
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("MIT License") and "WITHOUT WARRANTY OF ANY KIND" in text
    assert PYPROJECT["project"]["license"] == "MIT"
    assert PYPROJECT["project"]["license-files"] == ["LICENSE"]


def test_the_version_is_written_once():
    assert "version" not in PYPROJECT["project"] and "version" in PYPROJECT["project"]["dynamic"]
    assert PYPROJECT["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "dann_core.__version__"}
    assert metadata.version("dann") == dann_core.__version__  # what pip installed came from that one place


def _git_files(*paths: str) -> list[str]:
    done = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", *paths], cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip("not a git checkout")
    return [line for line in done.stdout.splitlines() if (ROOT / line).exists()]


def test_the_sdist_holds_every_source_and_header_of_the_extension(tmp_path):
    source = tmp_path / "src"
    for name in _git_files():
        target = source / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes((ROOT / name).read_bytes())
    env = {**os.environ, "DANN_NO_EXT": "1"}  # the sdist lists files; nothing is compiled
    done = subprocess.run([sys.executable, "setup.py", "-q", "egg_info", "--egg-base", str(tmp_path), "sdist", "--dist-dir", str(tmp_path / "dist")],
                          cwd=source, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    (archive,) = (tmp_path / "dist").glob("dann-*.tar.gz")
    with tarfile.open(archive) as tar:
        members = {name.split("/", 1)[1] for name in tar.getnames() if "/" in name}
    wanted = [name for name in _git_files("csrc") if name.endswith((".h", ".cuh", ".cpp", ".cu"))]
    assert any(name.endswith(".cuh") for name in wanted) and any(name.endswith(".h") for name in wanted)
    assert sorted(set(wanted) - members) == []
    modules = [name for name in _git_files("dann_core", "plugins") if name.endswith((".py", ".tmpl"))]  # subpackages (dann_core/testing/) too
    assert "dann_core/testing/__init__.py" in modules and sorted(set(modules) - members) == []
    assert {"LICENSE", "setup.py", "pyproject.toml"} <= members


def _setup_module():
    """setup.py as a module (under another name than __main__, so setup() does not run)."""
    spec = importlib.util.spec_from_file_location("dann_setup", ROOT / "setup.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _fake_torch(cuda: str | None, gpus: int):
    return types.SimpleNamespace(__version__="2.14.1", version=types.SimpleNamespace(cuda=cuda),
                                 cuda=types.SimpleNamespace(device_count=lambda: gpus))


@pytest.mark.parametrize(
    "env, cuda, toolkit, gpus, expected",
    [
        ({}, "13.0", True, 0, (False, "no GPU visible")),  # nvcc on PATH alone no longer buys a 7-minute CUDA build
        ({}, "13.0", True, 1, (True, "1 GPU(s) visible")),
        ({}, "13.0", False, 1, (False, "no CUDA toolkit")),
        ({}, None, True, 0, (False, "has no CUDA")),
        ({"DANN_CUDA": "1"}, "13.0", True, 0, (True, "DANN_CUDA=1")),
        ({"DANN_NO_CUDA": "1"}, "13.0", True, 1, (False, "DANN_NO_CUDA=1")),
        ({"DANN_CUDA": "0"}, "13.0", True, 1, (False, "DANN_NO_CUDA=1")),
    ],
)
def test_setup_compiles_the_cuda_half_only_with_a_gpu_or_when_asked(monkeypatch, env, cuda, toolkit, gpus, expected):
    setup = _setup_module()
    monkeypatch.delenv("DANN_CUDA", raising=False)
    monkeypatch.delenv("DANN_NO_CUDA", raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(setup, "_cuda_home", lambda: "/usr/local/cuda" if toolkit else None)
    use, why = setup._cuda_choice(_fake_torch(cuda, gpus))
    assert use is expected[0] and expected[1] in why


@pytest.mark.parametrize("cuda, toolkit, reason", [(None, True, "CPU-only build"), ("13.0", False, "no CUDA toolkit")])
def test_setup_refuses_dann_cuda_it_cannot_honour(monkeypatch, cuda, toolkit, reason):
    setup = _setup_module()
    monkeypatch.setenv("DANN_CUDA", "1")
    monkeypatch.delenv("DANN_NO_CUDA", raising=False)
    monkeypatch.setattr(setup, "_cuda_home", lambda: "/usr/local/cuda" if toolkit else None)
    with pytest.raises(SystemExit, match=reason):
        setup._cuda_choice(_fake_torch(cuda, 0))


def test_setup_keeps_objects_in_the_project_and_reports_progress(tmp_path):
    setup = _setup_module()
    build = tmp_path / "build"
    (build / "csrc").mkdir(parents=True)
    import time

    started = time.time()
    (build / "csrc" / "a.o").write_bytes(b"")
    old = build / "csrc" / "b.o"
    old.write_bytes(b"")
    os.utime(old, (started - 100, started - 100))
    assert [Path(p).name for p in setup._objects(str(build), started - 1)] == ["a.o"]  # compiled in this build
    base = type("Base", (), {"with_options": classmethod(lambda cls, **kw: cls), "finalize_options": lambda self: None})
    command = setup._build_ext_class(base, "py311-torchX", "cpu", 5)()
    command.finalize_options()
    assert command.build_temp == os.path.join(setup.ROOT, "build", "ext-py311-torchX-cpu")
    assert command.shared_temp == os.path.join(setup.ROOT, "build", "ext-py311-torchX-shared")  # both builds' CPU sources


def test_ci_runs_the_readme_in_a_copy_and_leaves_the_developers_venv_alone():
    script = (ROOT / ".ci" / "run").read_text()
    code = [line for line in script.splitlines() if not line.lstrip().startswith("#")]
    assert not any("rm -rf .venv" in line or "rm -rf build" in line for line in code)
    assert "mktemp -d" in script and 'cd "$work"' in script
    assert script.index("readme_block 1") < script.index("readme_block 2")
    assert "-newer .ci-stamps/before-block2" in script  # block 2 must compile nothing block 1 built
    assert "DANN_CUDA=1" in script  # the CUDA half still compiles and links where a toolkit exists


def test_ci_builds_the_sdist_and_wheel_and_runs_the_installed_wheel_outside_the_tree():
    script = (ROOT / ".ci" / "run").read_text()
    step = script[script.index('pkg="$work/.ci-package"'):script.index("== packaging checked in")]
    assert script.index("bash -euo pipefail block2.sh") < script.index('pkg="$work/.ci-package"')  # after block 2: its objects exist
    assert "build_meta.build_sdist" in step and 'comm -23 - "$pkg/sdist-files"' in step  # every file the copy holds that the build needs
    assert "pip wheel" in step and "--no-build-isolation" in step and "-newer \"$pkg/before-wheel\"" in step  # linked, never recompiled
    assert "--without-pip" in step and "--ignore-installed" in step and "-e " not in step.replace("-euo", "")  # a plain, non-editable install
    assert 'cd "$outside"' in step and "dann_core.__file__" in step and '"$pkg/venv/bin/dann" plugins' in step and "dann\" run --steps 5" in step
