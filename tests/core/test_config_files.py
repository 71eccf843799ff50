"""Config files: component tables, YAML's yes/no kept as text, path options made absolute."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from dann_core import config
from dann_core.config import ConfigError
from dann_core.plugins import get_plugin_manager, get_registry
from dann_core.specs import ComponentSpec


@pytest.mark.parametrize("suffix, body", [
    (".toml", '[dataset]\nname = "moons"\nangle = 20\n[method]\nname = "cdan"\nentropy = true\n[backbone]\nwidth = 8\n'),
    (".yaml", "dataset: {name: moons, angle: 20}\nmethod: {name: cdan, entropy: yes}\nbackbone: {width: 8}\n"),
])
def test_component_tables_name_the_component_and_hold_its_options(tmp_path, suffix, body):
    path = tmp_path / f"run{suffix}"
    path.write_text(body)
    cfg = config.resolve(path, recommend=False)
    assert (cfg.dataset, cfg.method, cfg.backbone) == ("moons", "cdan", "mlp")
    assert cfg.dataset_options == {"angle": 20} and cfg.backbone_options == {"width": 8}
    assert cfg.method_options["entropy"] in (True, "yes")  # the option's own type decides (bool: both true)


def test_a_table_with_a_bad_name_is_one_line(tmp_path):
    path = tmp_path / "run.toml"
    path.write_text("[dataset]\nname = 3\n")
    with pytest.raises(ConfigError) as raised:
        config.resolve(path, recommend=False)
    assert str(raised.value) == f"{path}: bad value 3 for 'dataset': expected a string"  # the file is named (issue 31)


def _registry_with_text_and_path_options():
    def table(seed: int, header: str = "auto", path: Path | None = None, limit: int = 3):
        """A dataset with a string option and a path option."""

    pm = get_plugin_manager(autoload=False)
    registry = get_registry(pm)
    registry.datasets["table"] = ComponentSpec.from_factory("table", table)
    return registry


def test_yaml_yes_no_on_off_stay_text_for_string_options_and_booleans_still_accept_them(tmp_path):
    registry = _registry_with_text_and_path_options()
    cfg = config.resolve(sets=["dataset=table", "dataset.header=yes", "lr_schedule=off"], registry=registry, recommend=False)
    assert cfg.dataset_options["header"] == "yes" and cfg.lr_schedule is False
    path = tmp_path / "run.yaml"
    path.write_text("dataset: {name: table, header: on}\n")
    assert config.resolve(path, registry=registry, recommend=False).dataset_options["header"] == "on"


def test_path_options_are_recorded_absolute_and_reach_the_factory_as_paths(tmp_path, monkeypatch):
    registry = _registry_with_text_and_path_options()
    spec = registry.get("dataset", "table")
    assert spec.path_options == {"path"} and spec.options["path"] is None
    monkeypatch.chdir(tmp_path)
    cfg = config.resolve(sets=["dataset=table", "dataset.path=data/x.csv"], registry=registry, recommend=False)
    assert cfg.dataset_options["path"] == str(tmp_path / "data" / "x.csv")
    config.save(cfg, tmp_path / "config.json")
    assert json.loads((tmp_path / "config.json").read_text())["dataset_options"]["path"] == str(tmp_path / "data" / "x.csv")
    from dann_core.plugins import validate_options

    assert validate_options(spec, {"path": "~/x.csv"})["path"] == Path.home() / "x.csv"
    assert validate_options(spec, {"path": ""})["path"] is None


def test_toml_files_read_with_tomli_where_tomllib_is_missing(tmp_path, monkeypatch):
    """requires-python is >=3.10: there tomllib is absent and the tomli dependency reads TOML files."""
    import importlib
    import sys
    import tomllib
    import types

    from dann_core.config import sources

    tomli = types.ModuleType("tomli")
    tomli.loads, tomli.TOMLDecodeError = tomllib.loads, tomllib.TOMLDecodeError
    monkeypatch.setitem(sys.modules, "tomllib", None)  # `import tomllib` raises ModuleNotFoundError, as on 3.10
    monkeypatch.setitem(sys.modules, "tomli", tomli)
    try:
        reloaded = importlib.reload(sources)
        assert reloaded.tomllib is tomli
        (tmp_path / "run.toml").write_text("steps = 7\n[dataset]\nname = 'moons'\n")
        assert reloaded.load_file(tmp_path / "run.toml") == {"steps": 7, "dataset": {"name": "moons"}}
        (tmp_path / "bad.toml").write_text("steps = = 7\n")
        with pytest.raises(config.ConfigError, match="cannot parse config file"):
            reloaded.load_file(tmp_path / "bad.toml")
    finally:
        monkeypatch.undo()
        importlib.reload(sources)
    assert sources.tomllib is tomllib
