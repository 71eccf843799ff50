"""Inputs read on demand (dann_core.rows.LazyRows): streamed training batches, exact resume with
DataLoader workers reading ahead, evaluation through workers, balanced multi-source sampling."""
from __future__ import annotations

import dataclasses
import types

import pytest
import torch

from dann_core import checkpoint, hookimpl
from dann_core.metrics import MetricsLog
from dann_core.rows import LazyRows, batches, materialize, take
from dann_core.specs import ComponentSpec, DomainData, Split
from dann_core.testing import registry_with, tiny_config
from dann_core.train import Trainer, load_run, resume, train
from dann_core.train.sampler import DomainBalancedSampler


class NoisyRows(LazyRows):
    """Rows of ``x``; training reads add noise drawn from the augmentation seed (an 'augmentation')."""

    def __init__(self, x: torch.Tensor, noise: float = 0.0, workers: int = 0) -> None:
        self.x, self.noise, self.workers = x, noise, workers
        self.row_shape = tuple(x.shape[1:])

    def __len__(self) -> int:
        return len(self.x)

    def read(self, index, augment_seed=None):
        row = self.x[index].clone()
        if augment_seed is not None and self.noise:
            row += self.noise * torch.randn(row.shape, generator=torch.Generator().manual_seed(augment_seed))
        return row


def lazy_moons(moons: DomainData, noise: float, workers: int) -> DomainData:
    def wrap(split):
        return Split(NoisyRows(split.x, noise, workers), split.y)

    return dataclasses.replace(moons, source_train=wrap(moons.source_train), source_val=wrap(moons.source_val),
                               target_train=wrap(moons.target_train), target_test=wrap(moons.target_test))


def lazy_moons_plugin():
    """A dataset plugin 'lazy-moons' (options noise, workers) over the built-in moons."""
    module = types.ModuleType("lazy_moons_plugin")

    def make(seed, noise: float = 0.0, workers: int = 0):
        from dann_datasets.moons import make_moons_problem

        return lazy_moons(make_moons_problem(seed, n_per_class=30, n_test_per_class=40), noise, workers)

    module.register_datasets = hookimpl(lambda: [ComponentSpec.from_factory("lazy-moons", make)])
    return module


@pytest.fixture
def registry():
    return registry_with(lazy_moons_plugin())


def config(**options):
    return tiny_config(dataset="lazy-moons", dataset_options=options)


def metrics(run_dir):
    return MetricsLog(run_dir / "metrics.jsonl").read()


def test_streamed_rows_train_exactly_like_the_same_rows_in_memory(tmp_path, registry):
    in_memory = train(tiny_config(), tmp_path / "memory")
    streamed = train(config(workers=0), tmp_path / "streamed", registry=registry)
    assert metrics(tmp_path / "streamed") == metrics(tmp_path / "memory")
    assert streamed["target_test_acc"] == in_memory["target_test_acc"]


def test_augmented_stream_does_not_depend_on_the_number_of_workers(tmp_path, registry):
    train(config(noise=0.1, workers=0), tmp_path / "w0", registry=registry)
    train(config(noise=0.1, workers=2), tmp_path / "w2", registry=registry)
    train(config(noise=0.0, workers=0), tmp_path / "plain", registry=registry)
    assert metrics(tmp_path / "w0") == metrics(tmp_path / "w2")
    assert metrics(tmp_path / "w0") != metrics(tmp_path / "plain")  # the augmentation is applied


class Killed(BaseException):
    """Stands in for SIGKILL."""


def test_resume_with_workers_reading_ahead_replays_the_exact_batches(tmp_path, registry, monkeypatch):
    # dropout draws on the global RNG: a loader started anew on resume must not draw on it too
    cfg = dataclasses.replace(config(noise=0.1, workers=2), discriminator_options={"dropout": 0.5})
    train(cfg, tmp_path / "full", registry=registry)
    original = Trainer.next_batch

    def dying(self):
        if int(self.method.step) == 12:
            raise Killed
        return original(self)

    monkeypatch.setattr(Trainer, "next_batch", dying)
    with pytest.raises(Killed):
        train(cfg, tmp_path / "killed", registry=registry)
    monkeypatch.setattr(Trainer, "next_batch", original)
    state = checkpoint.load(tmp_path / "killed" / "last.pt")
    assert state["step"] == 10 and state["streams"]["source"]["pending"]  # the loader had read ahead
    resume(tmp_path / "killed", registry=registry)
    assert metrics(tmp_path / "killed") == metrics(tmp_path / "full")
    full, resumed = checkpoint.load(tmp_path / "full" / "last.pt"), checkpoint.load(tmp_path / "killed" / "last.pt")
    for key, value in full["method"].items():
        assert torch.equal(value, resumed["method"][key]), key


def test_load_run_evaluates_streamed_splits_through_workers(tmp_path, registry):
    summary = train(config(workers=2), tmp_path / "run", registry=registry)
    run = load_run(tmp_path / "run", registry=registry)
    x = run.data.target_test.x
    assert isinstance(x, LazyRows)
    logits = torch.cat([run.model(b) for b in batches(x, 7)])
    accuracy = (logits.argmax(1) == run.data.target_test.y).float().mean().item()
    assert accuracy == pytest.approx(summary["target_test_acc"])


def test_rows_index_take_and_materialize_agree_with_the_tensor():
    x = torch.randn(11, 3)
    rows = NoisyRows(x, noise=1.0, workers=0)
    assert torch.equal(rows[2], x[2]) and torch.equal(rows[3:7], x[3:7]) and torch.equal(rows[torch.tensor([5, 1])], x[[5, 1]])
    assert torch.equal(materialize(take(rows, [4, 0, 9])), x[[4, 0, 9]])
    assert torch.equal(take(take(rows, [4, 0, 9]), [2])[0], x[9])
    assert torch.equal(torch.cat(list(batches(rows, 4))), x)
    assert rows.shape == (11, 3) and len(rows[0:0]) == 0
    assert not torch.equal(rows.read(0, 1), rows.read(0, 2)) and torch.equal(rows.read(0, 1), rows.read(0, 1))


def test_domain_balanced_sampler_fills_the_batch_equally_from_each_domain_and_resumes():
    domains = torch.tensor([0] * 50 + [1] * 5 + [2] * 20)
    sampler = DomainBalancedSampler(domains, batch_size=10, seed=0)
    for _ in range(20):
        counts = torch.bincount(domains[sampler.next()], minlength=3).tolist()
        assert counts == [4, 3, 3]
    state = sampler.state_dict()
    ahead = [sampler.next() for _ in range(3)]
    sampler.load_state_dict(state)
    assert all(torch.equal(a, sampler.next()) for a in ahead)
    interleaved = domains[sampler.next()][:6].tolist()
    assert interleaved == [0, 1, 2, 0, 1, 2]  # every data-parallel share of a batch holds every domain


def test_multi_source_training_samples_domains_equally(tmp_path):
    from dann_core.plugins import get_registry

    moons = get_registry().build("dataset", "moons", {"n_per_class": 30, "n_test_per_class": 40}, seed=0)
    n = len(moons.source_train)
    domains = torch.zeros(n, dtype=torch.long)
    domains[: n // 6] = 1  # a small second source domain
    data = dataclasses.replace(moons, domains=domains, num_source_domains=2)
    trainer = Trainer(tiny_config(), data=data)
    seen = torch.cat([trainer.next_batch().source_domains for _ in range(10)])
    assert torch.bincount(seen).tolist() == [80, 80]


def test_a_large_uncompressed_npz_is_memory_mapped_and_trains_like_the_loaded_one(tmp_path, monkeypatch):
    import numpy as np

    from dann_core.plugins import get_registry
    from dann_datasets import npz

    rng = np.random.default_rng(0)
    xs, xt = rng.standard_normal((60, 2)).astype(np.float32), rng.standard_normal((50, 2)).astype(np.float32) + 1
    np.savez(tmp_path / "d.npz", xs=xs, ys=(xs[:, 0] > 0).astype(np.int64), xt=xt, yt=(xt[:, 0] > 1).astype(np.int64))
    registry = get_registry()
    streamed = registry.build("dataset", "npz", {"path": str(tmp_path / "d.npz"), "stream": "on", "workers": 0}, seed=0)
    loaded = registry.build("dataset", "npz", {"path": str(tmp_path / "d.npz"), "stream": "off"}, seed=0)
    assert isinstance(streamed.source_train.x, LazyRows) and isinstance(loaded.source_train.x, torch.Tensor)
    assert isinstance(registry.build("dataset", "npz", {"path": str(tmp_path / "d.npz")}, seed=0).source_train.x, torch.Tensor)
    cfg = tiny_config(dataset="npz", dataset_options={})
    a, b = train(cfg, tmp_path / "a", data=streamed), train(cfg, tmp_path / "b", data=loaded)
    assert metrics(tmp_path / "a") == metrics(tmp_path / "b") and a["target_test_acc"] == b["target_test_acc"]

    np.savez_compressed(tmp_path / "c.npz", xs=xs, ys=(xs[:, 0] > 0).astype(np.int64), xt=xt)
    with pytest.raises(ValueError, match="compressed and cannot be streamed"):
        registry.build("dataset", "npz", {"path": str(tmp_path / "c.npz"), "stream": "on"}, seed=0)
    monkeypatch.setattr(npz, "STREAM_ABOVE_BYTES", 100)  # 'auto' streams uncompressed inputs above the threshold
    assert isinstance(registry.build("dataset", "npz", {"path": str(tmp_path / "d.npz")}, seed=0).target_train.x, LazyRows)
    assert isinstance(registry.build("dataset", "npz", {"path": str(tmp_path / "c.npz")}, seed=0).target_train.x, torch.Tensor)


def test_a_failed_run_leaves_no_dataloader_worker_behind(tmp_path, registry, monkeypatch):
    import multiprocessing

    original = Trainer.next_batch

    def failing(self):
        if int(self.method.step) == 7:
            raise RuntimeError("boom")
        return original(self)

    monkeypatch.setattr(Trainer, "next_batch", failing)
    with pytest.raises(RuntimeError, match="boom"):
        train(config(workers=2), tmp_path / "run", registry=registry)
    assert multiprocessing.active_children() == []


class BrokenRows(NoisyRows):
    """Row 5 cannot be read (a file broken after listing)."""

    def read(self, index, augment_seed=None):
        if index == 5:
            raise OSError("row 5: truncated file")
        return super().read(index, augment_seed)


def test_a_read_error_stops_the_workers_even_while_its_traceback_is_kept():
    import multiprocessing

    from dann_core.rows import RowReadError

    with pytest.raises(RowReadError, match="row 5: truncated file") as caught:
        list(batches(BrokenRows(torch.randn(12, 2), workers=2), batch_size=2))
    assert caught.traceback  # the frames (and the iterator they hold) are still referenced here
    assert multiprocessing.active_children() == []


LEFT_ITERATOR = """
import sys, torch
sys.path.insert(0, sys.argv[1])
from test_streaming import NoisyRows
from dann_core.rows import loader
kept = iter(loader(NoisyRows(torch.randn(64, 2), workers=2), 4, "cpu"))
next(kept)
print("read", flush=True)
"""


def test_a_process_exits_promptly_with_a_dataloader_iterator_left_unfinished():
    # multiprocessing ends daemonic children at exit with SIGTERM, which dann's workers ignore, and
    # then waits for them: without dann's own exit handler this process would never end
    import pathlib
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", LEFT_ITERATOR, str(pathlib.Path(__file__).parent)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout == "read\n", done.stderr
