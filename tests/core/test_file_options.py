"""A factory's error about a file an option names is one line naming the component and the option
(dann_core.plugins.Registry.build, the one place every component is built)."""
from __future__ import annotations

import pytest

from dann_core import hookimpl
from dann_core.specs import ComponentSpec
from dann_core.testing import registry_with


def text_table(seed: int, path: str = "", other: str = "notes.txt"):
    """A dataset that opens its file as plugins usually do (open() raises with errno and filename)."""
    with open(path) as file:
        file.read()


def broken_disk(seed: int, path: str = "x.csv"):
    raise PermissionError(13, "Permission denied", "/var/cache/dann/index")


class _Plugin:
    @hookimpl
    def register_datasets(self):
        return [ComponentSpec.from_factory("text-table", text_table), ComponentSpec.from_factory("broken-disk", broken_disk)]


def test_a_missing_npz_is_one_line_naming_the_dataset_and_option(dann_cli, tmp_path):
    result = dann_cli("run", "--dataset", "npz", "--set", "dataset.path=/nonexistent.npz", "--steps", "2", "--threads", "1",
                      "--out", str(tmp_path / "run"))
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines()[-1] == "Error: dataset 'npz' option 'path': no such file '/nonexistent.npz'"
    assert not (tmp_path / "run").exists()


def test_a_plugin_s_open_error_names_the_option_and_keeps_its_type(tmp_path):
    registry = registry_with(_Plugin())
    missing = tmp_path / "table.csv"
    with pytest.raises(FileNotFoundError) as error:
        registry.build("dataset", "text-table", {"path": str(missing)}, seed=0)
    assert str(error.value) == f"dataset 'text-table' option 'path': {missing}: no such file or directory"
    with pytest.raises(IsADirectoryError, match=rf"^dataset 'text-table' option 'path': {tmp_path}: is a directory$"):
        registry.build("dataset", "text-table", {"path": str(tmp_path)}, seed=0)


def test_a_file_error_no_option_names_passes_through_unchanged():
    registry = registry_with(_Plugin())
    with pytest.raises(PermissionError) as error:
        registry.build("dataset", "broken-disk", {"path": "/var/cache/dann"}, seed=0)  # a prefix of the file, not it
    assert error.value.filename == "/var/cache/dann/index" and error.value.strerror == "Permission denied"
