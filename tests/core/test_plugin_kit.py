"""The plugin authoring kit: dann_core.testing's checks, the plugin API version, `dann plugins`
listing nested commands, and `dann new plugin` generating a package whose tests pass once installed."""
from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from dann_core import PLUGIN_API_VERSION
from dann_core.cli import build_cli
from dann_core.plugins import PluginWarning, get_plugin_manager, plugin_listing
from dann_core.specs import ComponentSpec
from dann_core.testing import (
    ContractError,
    check_method,
    check_backbone,
    check_dataset,
    check_discriminator,
    check_logger,
    check_selector,
    registry_with,
)
from tests.builtins.test_method_plugins import install_distribution
from tests.paths import TEST_PLUGINS



def test_every_builtin_kind_passes_its_contract_check():
    check_dataset("moons", {"n_per_class": 20, "n_test_per_class": 20})
    check_backbone("mlp", {"width": 4})
    check_discriminator("mlp", {"hidden": "8"})
    check_method("cdan", {"entropy": True})
    check_selector("entropy")
    check_logger("csv")


class _Plugin:
    """A plugin whose components break their contracts in the ways authors do."""

    @staticmethod
    def undetermined(seed: int):
        import torch

        from dann_core.specs import DomainData, Split

        x = torch.randn(20, 2)  # ignores the seed
        y = torch.arange(20) % 2
        return DomainData(Split(x, y), Split(x, y), Split(x, None), Split(x, y), 2, (2,))

    @staticmethod
    def wrong_width(in_features: int, num_domains: int):
        from torch import nn

        return nn.Linear(in_features, 2)

    @staticmethod
    def eager_logger(run_dir: Path):
        from dann_core.loggers import Logger

        (run_dir / "early.txt").write_text("")
        return Logger()

    @staticmethod
    @__import__("dann_core").hookimpl
    def register_datasets():
        return [ComponentSpec.from_factory("undetermined", _Plugin.undetermined)]

    @staticmethod
    @__import__("dann_core").hookimpl
    def register_discriminators():
        return [ComponentSpec.from_factory("wrong-width", _Plugin.wrong_width)]

    @staticmethod
    @__import__("dann_core").hookimpl
    def register_loggers():
        return [ComponentSpec.from_factory("eager", _Plugin.eager_logger)]


def test_a_broken_contract_is_one_line_naming_the_component():
    registry = registry_with(_Plugin)
    cases = [
        (lambda: check_dataset("undetermined", registry=registry), "dataset 'undetermined' source_train differs between two builds with seed 0"),
        (lambda: check_discriminator("wrong-width", registry=registry),
         r"discriminator 'wrong-width' with num_domains=2 maps \(5, 16\) features to \(5, 2\), expected \(5, 1\)"),
        (lambda: check_logger("eager", registry=registry), "logger 'eager' wrote files when it was built"),
        (lambda: check_method("no-such", registry=registry), "unknown method 'no-such'"),
    ]
    for check, message in cases:
        with pytest.raises(ContractError, match=message) as caught:
            check()
        assert "\n" not in str(caught.value)


def test_fixtures_from_the_pytest11_entry_point(dann_tiny_config, dann_registry, dann_cli, monkeypatch):
    assert dann_tiny_config.steps == 20
    monkeypatch.syspath_prepend(str(TEST_PLUGINS))
    module = importlib.import_module("dann_testplugin_blobs")
    assert "test-blobs" in dann_registry(module).datasets
    result = dann_cli("plugins", "--json", plugins=[module])
    assert any(row["name"] == "dann_testplugin_blobs" for row in json.loads(result.stdout)["plugins"])


def test_dann_cli_with_a_plugin_that_is_also_installed(tmp_path, dann_cli, monkeypatch):
    """Issue 22: a plugin's own tests pass it to dann_cli while its package is installed (pip -e)."""
    source = (TEST_PLUGINS / "dann_testplugin_blobs.py").read_text()
    install_distribution(tmp_path, monkeypatch, "blobs-plugin", {"blobs": "dann_testplugin_blobs"}, {"dann_testplugin_blobs": source})
    module = importlib.import_module("dann_testplugin_blobs")
    result = dann_cli("plugins", "--json", plugins=[module])
    names = [row["name"] for row in json.loads(result.stdout)["plugins"]]
    assert names.count("blobs") + names.count("dann_testplugin_blobs") == 1, names


def test_a_plugin_declaring_a_newer_major_api_is_skipped_with_one_line(tmp_path, monkeypatch):
    major = int(PLUGIN_API_VERSION.split(".")[0])
    install_distribution(tmp_path, monkeypatch, "future-plugin", {"future": "future_module"},
                         {"future_module": f'DANN_PLUGIN_API = "{major + 1}.0"\n'})
    with pytest.warns(PluginWarning):
        pm = get_plugin_manager()
    assert pm.broken["future"].describe() == (
        f"dann plugin 'future' (future-plugin 0.3.0) is broken and was skipped: it needs dann plugin API {major + 1}.0, "
        f"this dann 0.1.0 provides {PLUGIN_API_VERSION}; upgrade dann"
    )


def test_dann_plugins_lists_nested_subcommands_a_plugin_adds(tmp_path, monkeypatch):
    source = (
        "import click\nfrom dann_core import hookimpl\n"
        "@click.group('tools')\ndef tools(): pass\n"
        "@tools.group('data')\ndef data(): pass\n"
        "@data.command('show')\ndef show(): pass\n"
        "@click.command('extra')\ndef extra(): pass\n"
        "@hookimpl\ndef register_commands(cli):\n    cli.add_command(tools)\n    cli.commands['eval'].add_command(extra)\n"
    )
    install_distribution(tmp_path, monkeypatch, "tool-plugin", {"tools": "tool_module"}, {"tool_module": source})
    row = next(r for r in plugin_listing(get_plugin_manager(), command_group=lambda: build_cli(load_plugins=False)) if r["name"] == "tools")
    assert row["provides"]["commands"] == ["eval extra", "tools", "tools data", "tools data show"]


def test_dann_new_plugin_writes_a_package_whose_tests_pass_once_installed(tmp_path):
    result = CliRunner().invoke(build_cli(), ["new", "plugin", "dann-kit-demo", "--dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    root = tmp_path / "dann-kit-demo"
    assert (root / "src" / "dann_kit_demo" / "plugin.py").exists() and (root / "tests" / "test_plugin.py").exists()
    # install as pip would (dist-info with the entry point on sys.path), in a fresh interpreter
    site = tmp_path / "site"
    info = site / "dann_kit_demo-0.1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: dann-kit-demo\nVersion: 0.1.0\n")
    (info / "entry_points.txt").write_text("[dann]\ndann_kit_demo = dann_kit_demo.plugin\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(root / "src")])}
    env.pop("DANN_DISABLE_PLUGIN_AUTOLOAD", None)
    tests = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(root / "tests")],
                           cwd=root, env=env, capture_output=True, text=True, timeout=600)
    assert tests.returncode == 0, tests.stdout[-3000:] + tests.stderr[-2000:]
    assert " passed" in tests.stdout and "failed" not in tests.stdout


def test_dann_new_plugin_refuses_a_used_folder_and_a_bad_name(tmp_path):
    (tmp_path / "dann-x").mkdir()
    (tmp_path / "dann-x" / "keep.txt").write_text("")
    runner = CliRunner()
    used = runner.invoke(build_cli(), ["new", "plugin", "dann-x", "--dir", str(tmp_path)])
    assert used.exit_code == 2 and "already exists and is not an empty folder" in used.output
    bad = runner.invoke(build_cli(), ["new", "plugin", "9 lives", "--dir", str(tmp_path)])
    assert bad.exit_code == 2 and "plugin name '9 lives' must be letters and digits" in bad.output
