"""A newcomer's first hour (issue 31), each item as it was met: Ctrl-C early, the OpenMP wait policy set
before torch loads, the thread count said, a progress bar in a terminal without a size, errors as one
line naming their culprit (the config file, a did-you-mean), run names, image-folder's messages, and
``dann plot`` / ``dann info`` saying what they do while they are slow."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from dann_core import machine
from dann_core.cli import build_cli
from dann_core.config import ConfigError, RunConfig, resolve
from dann_core.options import edit_distance, suggest
from tests.paths import ROOT

METHODS = ["source-only", "target-oracle", "dann", "cdan", "mcc", "mdd", "dan", "jan", "mcd", "adda", "bsp", "afn"]


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env.update(extra)
    return env


# ------------------------------------------------------------------------------------ did you mean


@pytest.mark.parametrize(
    "typed, first",
    [("dnan", "dann"), ("cdna", "cdan"), ("DANN", "dann"), ("sorce-only", "source-only"), ("target_oracle", "target-oracle"), ("bps", "bsp")],
)
def test_a_typo_suggests_the_name_meant_first(typed, first):
    assert suggest(typed, METHODS).startswith(f"did you mean '{first}'")


def test_a_swap_is_the_closest_mistake_and_unrelated_words_get_no_suggestion():
    assert suggest("dnan", METHODS) == "did you mean 'dann'? "  # a swap, where 'dan' is a deletion
    assert suggest("dnn", METHODS) == "did you mean 'dann'? "  # an insertion or a replacement: difflib decides
    assert suggest("xyz", METHODS) == ""
    assert suggest("resnet", []) == ""
    assert edit_distance("dnan", "dann") == 0.5 and edit_distance("dnan", "dan") == 1 and edit_distance("kitten", "sitting") == 3


def test_an_unknown_method_and_regulariser_get_a_did_you_mean(tmp_path):
    result = CliRunner().invoke(build_cli(), ["run", "--method", "dnan", "--out", str(tmp_path / "r")])
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [result.output.strip()]  # one line
    assert "did you mean 'dann'" in result.output
    result = CliRunner().invoke(build_cli(), ["run", "--set", "method.plus=mcd", "--steps", "2", "--out", str(tmp_path / "r")])
    assert result.exit_code == 2, result.output
    # refused when the config is checked (naming where plus was given), so the error is the only line
    assert result.output.strip().splitlines() == ["Error: --set: unknown regulariser 'mcd' in method option plus; did you mean 'mcc'? "
                                                  "known regularisers: " + result.output.split("known regularisers: ")[1].strip()]
    assert not (tmp_path / "r").exists()


# --------------------------------------------------------------------------- the file at fault


@pytest.mark.parametrize(
    "name, text, expected",
    [
        ("run.toml", 'steps = "lots"\n', "bad value 'lots' for 'steps'"),
        ("run.yaml", "dataset:\n  angle: wide\n", "option 'angle'"),
        ("run.json", '{"method": "dnan"}', "did you mean 'dann'"),
    ],
)
def test_a_bad_value_in_a_config_file_names_the_file(tmp_path, name, text, expected):
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(ConfigError) as raised:
        resolve(path)
    message = str(raised.value)
    assert message.startswith(f"{path}: ") and expected in message


def test_a_bad_set_value_says_it_came_from_set_and_a_good_file_is_not_blamed(tmp_path):
    path = tmp_path / "run.toml"
    path.write_text("steps = 5\n")
    with pytest.raises(ConfigError, match=r"^--set: bad value 'lots' for 'steps'"):
        resolve(path, ["steps=lots"])
    with pytest.raises(ConfigError, match=r"^--set: dataset 'moons' option 'angle'"):
        resolve(path, ["dataset.angle=wide"])


# ------------------------------------------------------------------------------------ run names


def test_a_composition_is_not_named_like_the_plain_method():
    from dann_core.train.rundir import default_run_dir

    plain = default_run_dir(RunConfig())
    assert plain.name.startswith("moons-dann-s0-")
    composed = default_run_dir(RunConfig(method_options={"plus": "mcc,bsp"}))
    assert composed.name.startswith("moons-dann+mcc+bsp-s0-")


# --------------------------------------------------------------------------------- image folders


def _image_tree(root: Path, domains: list[str], classes: list[str], wrapper: str = "images") -> None:
    from PIL import Image

    for domain in domains:
        for name in classes:
            folder = root / domain / wrapper / name
            folder.mkdir(parents=True)
            for i in range(2):
                Image.new("RGB", (8, 8), (40 * i, 80, 120)).save(folder / f"{i}.png")


def test_a_folder_of_domains_given_as_source_is_named_as_such(tmp_path):
    from dann_datasets.image_folder import make_image_folder

    _image_tree(tmp_path / "office31", ["amazon", "dslr", "webcam"], ["back_pack", "bike", "mug"])
    for classes in ("same", "intersection"):
        with pytest.raises(ValueError) as raised:
            make_image_folder(0, source=tmp_path / "office31", target=tmp_path / "office31" / "webcam" / "images", classes=classes, workers=0)
        message = str(raised.value)
        assert "holds domains (amazon, dslr, webcam)" in message and "office31/amazon/images" in message
        assert "classes=intersection" not in message


def test_class_folders_that_really_differ_still_suggest_intersection(tmp_path):
    from dann_datasets.image_folder import make_image_folder

    _image_tree(tmp_path, ["a"], ["cat", "dog", "owl"], wrapper="")
    _image_tree(tmp_path, ["b"], ["cat", "dog", "emu"], wrapper="")
    with pytest.raises(ValueError, match="set classes=intersection"):
        make_image_folder(0, source=tmp_path / "a", target=tmp_path / "b", workers=0)


def test_image_folder_without_target_test_says_it_reports_transductively(tmp_path, capsys):
    from dann_datasets.image_folder import make_image_folder

    _image_tree(tmp_path, ["a", "b", "c"], ["cat", "dog"], wrapper="")
    make_image_folder(0, source=tmp_path / "a", target=tmp_path / "b", size=8, workers=0)
    assert "transductive" in capsys.readouterr().err
    make_image_folder(0, source=tmp_path / "a", target=tmp_path / "b", target_test=tmp_path / "c", size=8, workers=0)
    assert "transductive" not in capsys.readouterr().err


# ---------------------------------------------------------------------------- Ctrl-C, OpenMP


def _dann_with_sigint_at_import(module: str, tmp_path: Path) -> subprocess.CompletedProcess:
    """``dann run`` in a fresh interpreter that gets SIGINT the moment it first imports ``module``."""
    child = textwrap.dedent(f"""
        import builtins, os, signal, sys
        real_import, fired = builtins.__import__, []
        def hooked(name, *args, **kwargs):
            if name == {module!r} and not fired:
                fired.append(1)
                os.kill(os.getpid(), signal.SIGINT)
            return real_import(name, *args, **kwargs)
        builtins.__import__ = hooked
        sys.argv = ["dann", "run", "--threads", "1", "--out", {str(tmp_path / 'run')!r}]
        from dann_core.cli import main
        main()
    """)
    return subprocess.run([sys.executable, "-c", child], env=_env(), capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("module", ["click", "torch", "train"])  # train: `from ..train import ...` inside `dann run`
def test_ctrl_c_while_dann_starts_exits_130_without_a_traceback_or_aborted(tmp_path, module):
    done = _dann_with_sigint_at_import(module, tmp_path)
    assert done.returncode == 130, done.stderr
    assert "Traceback" not in done.stderr and "Aborted" not in done.stderr
    assert not (tmp_path / "run").exists()


def test_ctrl_c_during_the_torch_import_lands_after_it_in_python_code():
    # In torch's C++ start-up a KeyboardInterrupt aborts the process or makes it die of SIGINT after
    # exiting 130 (seen in CI): the CLI holds Ctrl-C until torch has loaded.
    child = textwrap.dedent("""
        import builtins, os, signal, sys
        real_import = builtins.__import__
        def hooked(name, *args, **kwargs):
            if name == "torch" and "torch" not in sys.modules:
                os.kill(os.getpid(), signal.SIGINT)
            return real_import(name, *args, **kwargs)
        builtins.__import__ = hooked
        from dann_core.cli.common import import_torch
        try:
            import_torch()
        except KeyboardInterrupt:
            print("interrupted with torch loaded:", "torch._C" in sys.modules)
    """)
    done = subprocess.run([sys.executable, "-c", child], env=_env(), capture_output=True, text=True, timeout=120)
    assert done.stdout.strip() == "interrupted with torch loaded: True", done.stderr


@pytest.mark.parametrize("args", [["sweep", "--grid", "lambda=0,1"], ["sweep", "collect", "DIR"], ["table"], ["eval", "select", "DIR"],
                                  ["eval", "pad", "DIR"], ["plot", "DIR"]], ids=" ".join)
def test_every_command_that_loads_torch_holds_ctrl_c_until_it_has_loaded(args, tmp_path, monkeypatch):
    # The Ctrl-C of the test above, as it lands once import_torch returns: the command must call it
    # before it does anything (here it would write a sweep, a table or a report), then end with 130
    # and no output, as dann run does.
    import dann_evaluation.commands_eval
    import dann_evaluation.commands_plot
    import dann_evaluation.commands_sweep
    import dann_evaluation.commands_table

    calls = []

    def interrupted_after_loading():
        calls.append(True)
        raise KeyboardInterrupt

    for module in (dann_evaluation.commands_eval, dann_evaluation.commands_plot, dann_evaluation.commands_sweep, dann_evaluation.commands_table):
        monkeypatch.setattr(module, "import_torch", interrupted_after_loading)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "DIR").mkdir()
    result = CliRunner().invoke(build_cli(), [a for a in args], catch_exceptions=False)
    assert calls == [True] and result.exit_code == 130, result.output
    assert result.output == "" and sorted(p.name for p in tmp_path.iterdir()) == ["DIR"] and not any((tmp_path / "DIR").iterdir())


def _wait_until_python_catches_sigint(process: subprocess.Popen, timeout: float = 60.0) -> None:
    """Until the child's interpreter has installed its SIGINT handler (Linux: /proc SigCgt).

    Before that, no Python program can react to Ctrl-C: the kernel's default action ends it (-2, seen
    here for a signal 10 ms after start). The test's 2 seconds assume start-up is over; on a loaded
    machine this makes sure of it."""
    status = Path(f"/proc/{process.pid}/status")
    if not status.exists():
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        caught = next((line.split()[1] for line in status.read_text().splitlines() if line.startswith("SigCgt:")), "0")
        if int(caught, 16) & (1 << (signal.SIGINT - 1)):
            return
        time.sleep(0.01)


def test_ctrl_c_in_the_first_seconds_of_a_real_run_exits_130_in_at_most_one_line(tmp_path):
    process = subprocess.Popen([sys.executable, "-m", "dann_core", "run", "--threads", "1", "--out", str(tmp_path / "run")],
                               env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _wait_until_python_catches_sigint(process)
    time.sleep(2.0)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 130, err
    assert "Traceback" not in err and "Aborted" not in err
    assert len([line for line in err.splitlines() if line.strip() and not line.startswith(("recommended", "threads:", "dann:"))]) <= 1


def test_the_entry_point_sets_a_passive_wait_policy_before_torch_loads():
    probe = textwrap.dedent("""
        import builtins, os, sys
        real_import, seen = builtins.__import__, []
        def hooked(name, *args, **kwargs):
            if name == "torch" and not seen:
                seen.append(os.environ.get("OMP_WAIT_POLICY"))
                print("at torch import:", seen[0], file=sys.stderr)
            return real_import(name, *args, **kwargs)
        builtins.__import__ = hooked
        sys.argv = ["dann", "info", "--json"]
        from dann_core.cli import main
        main()
    """)
    done = subprocess.run([sys.executable, "-c", probe], env=_env(), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "at torch import: PASSIVE" in done.stderr
    assert '"openmp_wait": "sleep at once (OMP_WAIT_POLICY=PASSIVE)"' in done.stdout
    kept = subprocess.run([sys.executable, "-c", probe], env=_env(GOMP_SPINCOUNT="1000"), capture_output=True, text=True, timeout=120)
    assert "at torch import: None" in kept.stderr  # the user's own choice is left alone
    assert "GOMP_SPINCOUNT=1000" in kept.stdout


def test_set_openmp_wait_policy_respects_the_user_and_a_loaded_torch(monkeypatch):
    monkeypatch.delitem(sys.modules, "torch", raising=False)  # as at the entry point, before torch loads
    environ: dict[str, str] = {}
    assert machine.set_openmp_wait_policy(environ) == {"OMP_WAIT_POLICY": "PASSIVE"} == environ
    for user in ({"OMP_WAIT_POLICY": "ACTIVE"}, {"GOMP_SPINCOUNT": "10000"}):
        environ = dict(user)
        assert machine.set_openmp_wait_policy(environ) == {} and environ == user
    monkeypatch.setitem(sys.modules, "torch", object())  # too late: libgomp has read the environment
    environ = {}
    assert machine.set_openmp_wait_policy(environ) == {} and environ == {}


def test_a_run_says_how_many_threads_it_chose_and_why(tmp_path):
    result = CliRunner().invoke(build_cli(), ["run", "--steps", "4", "--eval-every", "2", "--out", str(tmp_path / "r")])
    assert result.exit_code == 0, result.output
    assert "threads: 1 (auto: 1 for the tiny mlp step); idle threads " in result.output
    result = CliRunner().invoke(build_cli(), ["run", "--steps", "4", "--eval-every", "2", "--threads", "2", "--out", str(tmp_path / "s")])
    assert "threads: 2 (--threads); idle threads " in result.output


# ------------------------------------------------------------------------ progress, plot, info


def test_the_progress_bar_shows_in_a_terminal_that_reports_no_size(tmp_path):
    import pty

    main_fd, child_fd = pty.openpty()  # a pseudo-terminal whose window size is 0 x 0, as under `script` or a CI runner
    try:
        process = subprocess.Popen([sys.executable, "-m", "dann_core", "run", "--steps", "300", "--eval-every", "100", "--out", str(tmp_path / "r")],
                                   env=_env(), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=child_fd)
        os.close(child_fd)
        seen = b""
        while True:
            try:
                chunk = os.read(main_fd, 4096)
            except OSError:  # the child closed its end
                break
            if not chunk:
                break
            seen += chunk
        assert process.wait(timeout=120) == 0
    finally:
        os.close(main_fd)
    text = seen.decode(errors="replace")
    assert "dann: 100%" in text and "300/300" in text, text[-500:]


def test_slow_plot_steps_are_announced_and_repeated_while_they_run():
    from dann_evaluation.plots import _announced

    lines: list[str] = []
    with _announced(lines.append, "embedding_tsne.png: t-SNE", every=0.05, quiet_for=0.05):
        time.sleep(0.4)
    assert lines[0] == "embedding_tsne.png: t-SNE ..."
    assert any("still running after" in line for line in lines[1:-1])
    assert lines[-1].startswith("embedding_tsne.png: t-SNE: done in ")
    quick: list[str] = []
    with _announced(quick.append, "curves.png", quiet_for=5.0):
        pass
    assert quick == []  # a step that ends quickly says nothing (an error after it stays one line)


def test_dann_plot_reports_each_embedding_as_it_goes(tmp_path, tiny_config, monkeypatch):
    pytest.importorskip("matplotlib")
    from dann_core.train import train
    from dann_evaluation import plots
    from dann_evaluation.plots import plot_run

    monkeypatch.setattr(plots, "QUIET_SECONDS", 0.0)  # announce even the quick steps of this tiny run

    train(tiny_config, tmp_path / "run")
    lines: list[str] = []
    plot_run(tmp_path / "run", tsne=True, max_points=40, notice=None, progress=lines.append)
    assert any(line.startswith("embedding_tsne.png: t-SNE of 2 panels x 40 points: done in") for line in lines)
    assert any(line.startswith("loading ") for line in lines)


def test_dann_info_prints_what_needs_no_torch_first():
    probe = "import sys; from dann_core.cli.info import _quick_facts; facts = _quick_facts(); print(sorted(facts), 'torch' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", probe], env=_env(), capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "['dann', 'kernel_mode', 'openmp_wait', 'python', 'threads_auto', 'torch'] False", done.stderr
    result = CliRunner().invoke(build_cli(), ["info"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("python") and any(line.startswith("threads_auto") for line in lines)
    assert any(line.startswith("backend cpu") for line in lines)
