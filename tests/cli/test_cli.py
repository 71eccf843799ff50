"""The dann command line through click's CliRunner: help, runs, resume, eval, errors (exit 2, one line)."""
from __future__ import annotations

import json

import click
import numpy as np
import pytest
from click.testing import CliRunner

from dann_core.cli import build_cli
from dann_methods.dann import DANN

TINY = [
    "--steps", "10", "--eval-every", "5", "--batch-size", "16", "--kernels", "reference",
    "--set", "dataset.n_per_class=30", "--set", "dataset.n_test_per_class=40",
]


def invoke(*args: str):
    return CliRunner().invoke(build_cli(), list(args), catch_exceptions=False)


def error_line(result) -> str:
    lines = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(lines) == 1, result.output
    return lines[0]


@pytest.mark.parametrize("command", [[], ["run"], ["eval"], ["eval", "checkpoint"], ["plugins"], ["info"]])
def test_every_command_has_help(command):
    result = invoke(*command, "--help")
    assert result.exit_code == 0 and "Usage: dann" in result.output


def test_run_help_lists_installed_components_and_precedence():
    output = " ".join(invoke("run", "--help").output.split())  # undo help wrapping
    assert "moons" in output and "lenet" in output and "cdan" in output
    assert "defaults < the chosen components' recommendations < --config FILE < --set KEY=VALUE < explicit options" in output


def test_run_writes_run_dir_and_prints_summary(tmp_path):
    out = tmp_path / "run"
    result = invoke("run", *TINY, "--out", str(out), "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["steps"] == 10 and summary["run_dir"] == str(out)
    assert {p.name for p in out.iterdir()} == {"config.json", "metrics.jsonl", "last.pt", "best.pt", "summary.json", "candidates", "views"}
    text = invoke("run", *TINY, "--out", str(tmp_path / "again"), "--quiet").output
    assert "target test acc" in text and "reported only" in text


def test_cli_precedence_file_then_set_then_flags(tmp_path):
    config_file = tmp_path / "c.toml"
    config_file.write_text('steps = 7\nseed = 4\nlr = 0.2\n[dataset_options]\nangle = 20\n')
    result = invoke("run", *TINY, "--config", str(config_file), "--set", "seed=5", "--set", "steps=8", "--out", str(tmp_path / "r"))
    assert result.exit_code == 0, result.output
    saved = json.loads((tmp_path / "r" / "config.json").read_text())
    # TINY's explicit --steps 10 beats --set steps=8 beats the file's 7; --set seed beats the file.
    assert (saved["steps"], saved["seed"], saved["lr"], saved["dataset_options"]["angle"]) == (10, 5, 0.2, 20)


def test_resume_continues_a_run_and_refuses_new_settings(tmp_path):
    out = tmp_path / "run"
    first = json.loads(invoke("run", *TINY, "--out", str(out), "--json").output)
    again = invoke("run", "--resume", str(out), "--json")
    assert again.exit_code == 0
    assert "already finished" in again.stderr  # nothing retrained, nothing rewritten
    assert json.loads(again.stdout) == first
    refused = invoke("run", "--resume", str(out), "--lr", "0.1")
    assert refused.exit_code == 2 and "drop --lr" in error_line(refused)


def test_eval_runs_the_default_subcommand_and_accepts_plugin_subcommands(tmp_path):
    out = tmp_path / "run"
    invoke("run", *TINY, "--out", str(out))
    short = invoke("eval", str(out), "--json")
    long = invoke("eval", "checkpoint", "--checkpoint", "best", str(out), "--json")
    assert short.exit_code == 0 and json.loads(short.output) == json.loads(long.output)
    summary = json.loads((out / "summary.json").read_text())
    assert json.loads(short.output)["target_test_acc"] == pytest.approx(summary["target_test_acc"])

    cli = build_cli()

    @click.command("probe")
    @click.argument("run_dir")
    def probe(run_dir):
        click.echo(f"probe of {run_dir}")

    cli.commands["eval"].add_command(probe)
    result = CliRunner().invoke(cli, ["eval", "probe", str(out)])
    assert result.exit_code == 0 and result.output.strip() == f"probe of {out}"
    assert "probe" not in build_cli().commands["eval"].commands  # each CLI has its own eval group


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["run", "--dataset", "moon"], "unknown dataset 'moon'; did you mean 'moons'?"),
        (["run", "--backbone", "lenet5"], "unknown backbone 'lenet5'"),
        (["run", "--set", "dataset.angel=3"], "unknown option 'angel' for dataset 'moons'; did you mean 'angle'?"),
        (["run", "--set", "lr_shedule=false"], "did you mean 'lr_schedule'?"),
        (["run", "--set", "dataset.angle=steep"], "dataset 'moons' option 'angle' expects a float"),
        (["run", "--method", "dnn"], "unknown method 'dnn'; did you mean 'dann'?"),
        (["run", "--lambda", "fast"], "bad λ 'fast': use 'schedule'"),
        (["run", "--steps", "0"], "steps must be at least 1"),
        (["run", "--config", "missing.toml"], "'missing.toml' does not exist"),
        (["run", "--dataset", "npz"], "npz dataset needs the option path="),
        (["eval", "no-such-dir"], "'no-such-dir' does not exist"),
    ],
)
def test_user_errors_exit_2_with_one_line(tmp_path, args, fragment):
    result = invoke(*args, "--out", str(tmp_path / "r")) if args[0] == "run" else invoke(*args)
    assert result.exit_code == 2, result.output
    assert fragment in error_line(result)
    assert "Traceback" not in result.output


def test_bad_npz_keys_name_the_file(tmp_path):
    bad = tmp_path / "bad.npz"
    np.savez(bad, xs=np.zeros((4, 2), np.float32), ys=np.zeros(4, np.int64))
    result = invoke("run", "--dataset", "npz", "--set", f"dataset.path={bad}", "--out", str(tmp_path / "r"))
    assert result.exit_code == 2 and str(bad) in error_line(result)


def test_diverged_run_exits_nonzero_with_message(tmp_path, monkeypatch):
    original = DANN.objective

    def poisoned(self, batch):
        loss, metrics = original(self, batch)
        if int(self.step) == 7:
            loss = loss * float("inf")
            metrics["domain_loss"] = loss.detach()
        return loss, metrics

    monkeypatch.setattr(DANN, "objective", poisoned)
    result = invoke("run", *TINY, "--out", str(tmp_path / "r"))
    assert result.exit_code == 1
    assert "training diverged: domain_loss is inf at step 7" in error_line(result)
    assert (tmp_path / "r" / "last.pt").exists()


def test_plugins_and_info_report_as_json():
    listing = json.loads(invoke("plugins", "--json").output)["plugins"]
    provided = {name for row in listing for names in row["provides"].values() for name in names}
    assert {"moons", "mlp", "lenet"} <= provided
    assert "moons" in invoke("--no-plugins", "plugins").output  # built-ins still load
    info = json.loads(invoke("info", "--json").output)
    assert info["backends"]["cpu"] in ("ext", "reference") and "compiled" in info["build_info"]


@pytest.mark.parametrize("args", [["--help"], ["plugins"], ["plugins", "--verbose", "--json"], ["run", "--help"]])
def test_help_and_the_plugin_listing_import_no_torch(args):
    """`dann --help` loads the plugins' command hooks only; `dann plugins` calls every hook, whose
    components are named by reference (read from the source, imported when built)."""
    import subprocess
    import sys

    code = ("import sys\nfrom click.testing import CliRunner\nfrom dann_core.cli import build_cli\n"
            f"result = CliRunner().invoke(build_cli(), {args!r})\nassert result.exit_code == 0, result.output\n"
            "assert 'BROKEN' not in result.output and ('moons' in result.output or 'Usage' in result.output), result.output\n"
            "print(sorted(m for m in ('torch', 'numpy', 'sklearn', 'matplotlib') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr
