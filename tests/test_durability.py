"""Writes finished in the background inside the training loop: atomic, in order, failures reported."""
from __future__ import annotations

import os
import threading

import pytest
import torch

from dann_core import checkpoint, durability, files
from dann_core.train.candidates import CandidatePool


@pytest.fixture
def held(monkeypatch):
    """The background thread waits before each fsync until the test sets the event."""
    go = threading.Event()
    original = durability.fsync_path

    def fsync_when_allowed(path):
        assert go.wait(10), "the test never let the write finish"
        original(path)

    monkeypatch.setattr(durability, "fsync_path", fsync_when_allowed)
    return go


def test_a_file_reaches_its_name_after_its_fsync_and_in_the_order_written(tmp_path, held):
    path = tmp_path / "last.pt"
    checkpoint.atomic_save({"step": 0}, path)  # outside the block: synchronous
    with durability.in_background():
        for step in (1, 2, 3):
            checkpoint.atomic_save({"step": step}, path)
        assert checkpoint.load(path)["step"] == 0  # nothing renamed before its fsync
        assert len(durability.in_flight()) == 3
        held.set()
        durability.wait()
        assert checkpoint.load(path)["step"] == 3 and not durability.in_flight()
    assert sorted(os.listdir(tmp_path)) == ["last.pt"]


def test_the_block_finishes_pending_writes_when_it_is_interrupted(tmp_path, held):
    path = tmp_path / "last.pt"
    with pytest.raises(KeyboardInterrupt):
        with durability.in_background():
            checkpoint.atomic_save({"step": 7}, path)
            held.set()
            raise KeyboardInterrupt
    assert checkpoint.load(path)["step"] == 7  # what a resume will find
    assert not durability.active()


def test_a_write_that_fails_in_the_background_is_raised_naming_it_and_later_ones_are_dropped(tmp_path, monkeypatch):
    original = durability.fsync_path
    go = threading.Event()

    def full_disk_for_best(path):
        assert go.wait(10)
        if ".best.pt." in str(path):
            raise OSError(28, "No space left on device")
        original(path)

    monkeypatch.setattr(durability, "fsync_path", full_disk_for_best)
    best, last = tmp_path / "best.pt", tmp_path / "last.pt"
    with pytest.raises(OSError, match="No space left on device.*best.pt"):
        with durability.in_background():
            checkpoint.atomic_save({"step": 1}, best)
            checkpoint.atomic_save({"step": 1}, last)  # queued behind it: never outruns a failed write
            go.set()
    assert not best.exists() and not last.exists()
    assert os.listdir(tmp_path) == []  # no temporary file left


def test_the_failure_is_raised_by_the_next_write_of_the_loop(tmp_path, monkeypatch):
    monkeypatch.setattr(durability, "fsync_path", lambda path: (_ for _ in ()).throw(OSError(5, "Input/output error")))
    with durability.in_background():
        checkpoint.atomic_save({"step": 1}, tmp_path / "last.pt")
        with pytest.raises(OSError, match="Input/output error.*last.pt"):
            durability.wait()
            checkpoint.atomic_save({"step": 2}, tmp_path / "last.pt")
    assert os.listdir(tmp_path) == []


def test_a_link_made_while_the_write_waited_is_refused_in_the_background(tmp_path, held):
    run, outside = tmp_path / "run", tmp_path / "outside"
    (run / "candidates").mkdir(parents=True)
    outside.mkdir()
    with pytest.raises(files.LinkRefusedError, match="candidates"):
        with durability.in_background():
            checkpoint.atomic_save({"step": 1}, run / "last.pt", root=run)  # held: the next write waits behind it
            checkpoint.atomic_save({"step": 1}, run / "candidates" / "step-0000001.pt", root=run)
            (run / "candidates").rename(run / "moved")
            (run / "candidates").symlink_to(outside)
            held.set()
    assert os.listdir(outside) == []


def test_pruning_candidates_spares_the_one_being_written(tmp_path, held):
    pool = CandidatePool({}, "last", keep=1, run_dir=tmp_path)
    state = lambda: {"step": 1, "w": torch.ones(2)}  # noqa: E731
    with durability.in_background():
        pool.add(100, {}, {"source_val_acc": 0.5, "target_test_acc": None}, state)
        assert len(durability.in_flight()) == 1  # pruning ran after the save and left its temporary file
        held.set()
        durability.wait()
    assert [p.name for p in (tmp_path / "candidates").iterdir()] == ["step-0000100.pt"]
