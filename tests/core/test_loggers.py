"""Loggers are plugins: jsonl always on, csv and tensorboard by --log, a clear error without tensorboard."""
from __future__ import annotations

import csv
import dataclasses
import json
import sys

import pytest
from click.testing import CliRunner

from dann_core.cli import build_cli
from dann_core.config import ConfigError, resolve
from dann_core.loggers import logger_names
from dann_core.metrics import MetricsLog
from dann_core.plugins import get_plugin_manager, get_registry
from dann_core.train import Trainer, resume, train


def test_jsonl_is_always_first_and_names_are_not_repeated():
    assert logger_names("") == ["jsonl"]
    assert logger_names(" csv, jsonl,csv ,tensorboard") == ["jsonl", "csv", "tensorboard"]


def test_csv_logger_writes_one_row_per_evaluation_and_resumes_exactly(tmp_path, tiny_config, monkeypatch):
    cfg = dataclasses.replace(tiny_config, log="csv")
    train(cfg, tmp_path / "full")
    rows = list(csv.DictReader((tmp_path / "full" / "metrics.csv").open()))
    records = MetricsLog(tmp_path / "full" / "metrics.jsonl").read()
    assert [int(row["step"]) for row in rows] == [r["step"] for r in records] == [5, 10, 15, 20]
    assert float(rows[-1]["selectors.last"]) == 20.0 and "label_loss" in rows[0]

    original = Trainer.next_batch

    def dying(self):
        if self.method.steps_done == 12:
            raise KeyboardInterrupt
        return original(self)

    monkeypatch.setattr(Trainer, "next_batch", dying)
    with pytest.raises(KeyboardInterrupt):
        train(cfg, tmp_path / "killed")
    monkeypatch.setattr(Trainer, "next_batch", original)
    resume(tmp_path / "killed")
    assert (tmp_path / "killed" / "metrics.csv").read_text() == (tmp_path / "full" / "metrics.csv").read_text()


def test_log_setting_reaches_the_run_command_and_an_unknown_logger_is_one_line(tmp_path):
    runner = CliRunner()
    ok = runner.invoke(build_cli(), ["run", "--steps", "4", "--eval-every", "2", "--log", "csv", "--out", str(tmp_path / "r"), "--quiet"])
    assert ok.exit_code == 0, ok.output
    assert (tmp_path / "r" / "metrics.csv").exists()
    assert json.loads((tmp_path / "r" / "config.json").read_text())["log"] == "csv"
    bad = runner.invoke(build_cli(), ["run", "--log", "csvv", "--out", str(tmp_path / "bad")])
    assert bad.exit_code == 2 and "Error: --log: unknown logger 'csvv'; did you mean 'csv'?" in bad.output
    assert not (tmp_path / "bad").exists()


def test_tensorboard_without_the_package_is_one_line(tmp_path, tiny_config, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # as if tensorboard were not installed
    runner = CliRunner()
    result = runner.invoke(build_cli(), ["run", "--steps", "2", "--log", "tensorboard", "--out", str(tmp_path / "r")])
    assert result.exit_code == 2
    assert result.output.strip().splitlines()[-1] == "Error: logger 'tensorboard' needs the tensorboard package: pip install tensorboard"


def test_tensorboard_writes_event_files_when_installed(tmp_path, tiny_config):
    pytest.importorskip("tensorboard")
    train(dataclasses.replace(tiny_config, log="tensorboard"), tmp_path / "r")
    assert list((tmp_path / "r" / "tensorboard").glob("events.out.tfevents.*"))


def test_loggers_are_listed_and_configurable_only_by_name():
    registry = get_registry(get_plugin_manager(autoload=False))
    assert set(registry.loggers) == {"jsonl", "csv", "tensorboard"}
    with pytest.raises(ConfigError, match="unknown logger"):
        resolve(flags={"log": "nope"}, registry=registry)
