"""Every component of the example plugin meets its contract (dann_core.testing) as installed."""
from __future__ import annotations

import pytest

from dann_core.testing import check_method, check_backbone, check_dataset, check_discriminator, check_logger


def test_csv_table_dataset():
    data = check_dataset("csv-table")
    assert data.num_classes == 2 and data.input_shape == (3,)


def test_csv_table_reads_a_file_given_by_path(tmp_path):
    table = tmp_path / "tiny.csv"
    rows = [f"{i % 3}.0,{i % 2},{'yes' if i < 20 else 'no'}" for i in range(40)]
    table.write_text("f,label,origin\n" + "\n".join(rows) + "\n")
    options = {"path": str(table), "domain_column": "origin", "source_value": "yes", "target_value": "no"}
    data = check_dataset("csv-table", options)
    assert len(data.source_train) + len(data.source_val) == 20


def test_resmlp_backbone():
    check_backbone("resmlp", {"width": 8, "blocks": 1})


def test_spectral_discriminator():
    check_discriminator("spectral-mlp", {"hidden": 8})


def test_coral_method():
    check_method("coral", {"weight": 0.5})


def test_coral_method_trains_under_bf16_autocast():
    check_method("coral", {"weight": 0.5}, precision="bf16")  # as dann run --precision bf16 trains it


def test_text_logger():
    check_logger("text")


def test_a_bad_value_is_one_line_naming_the_option():
    with pytest.raises(AssertionError, match="csv-table.*val_fraction must be in"):
        check_dataset("csv-table", {"val_fraction": 2})
