"""The trainer: determinism, resume after a kill, atomic checkpoints, NaN stops, methods, public API."""
from __future__ import annotations

import dataclasses
import json
import os
import signal

import pytest
import torch

from dann_core import checkpoint
from dann_core.metrics import MetricsLog
from dann_core.specs import DomainData, Split
from dann_methods.dann import DANN
from dann_core.train import DivergedError, RunError, Trainer, fit, load_run, resume, train

VOLATILE = ("seconds", "eval_seconds", "run_dir")


def stable(summary: dict) -> dict:
    return {key: value for key, value in summary.items() if key not in VOLATILE}


def read_metrics(run_dir):
    return MetricsLog(run_dir / "metrics.jsonl").read()


def weights(path):
    return checkpoint.load(path)["method"]


def assert_same_weights(a, b):
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


def test_run_dir_holds_every_file_and_one_metrics_line_per_evaluation(tmp_path, tiny_config):
    summary = train(tiny_config, tmp_path / "run")
    run = tmp_path / "run"
    assert sorted(p.name for p in run.iterdir()) == ["best.pt", "candidates", "config.json", "last.pt", "metrics.jsonl", "summary.json", "views"]
    lines = read_metrics(run)
    assert [line["step"] for line in lines] == [5, 10, 15, 20]
    for key in ("label_loss", "domain_loss", "domain_acc", "lambda", "lr", "source_val_acc", "target_test_acc"):
        assert key in lines[0]
    assert json.loads((run / "summary.json").read_text()) == summary
    recorded = json.loads((run / "config.json").read_text())
    assert {k: v for k, v in recorded.items() if k != "provenance"} == {**tiny_config.to_dict(), "threads": 1}  # auto → the count used
    assert recorded["provenance"]["components"]["method"] == {"name": "dann", "plugin": "methods", "distribution": "dann", "version": "0.1.0"}
    best = max(lines, key=lambda line: (line["source_val_acc"], line["step"]))
    assert summary["best_step"] == best["step"] and summary["target_test_acc"] == best["target_test_acc"]
    assert checkpoint.load(run / "best.pt")["step"] == best["step"]


def test_same_seed_gives_identical_metrics_and_another_seed_does_not(tmp_path, tiny_config):
    first = train(tiny_config, tmp_path / "a")
    second = train(tiny_config, tmp_path / "b")
    assert read_metrics(tmp_path / "a") == read_metrics(tmp_path / "b")
    assert stable(first) == stable(second)
    train(dataclasses.replace(tiny_config, seed=1), tmp_path / "c")
    assert read_metrics(tmp_path / "c") != read_metrics(tmp_path / "a")


def test_lambda_and_lr_follow_the_paper_schedules(tmp_path, tiny_config):
    train(tiny_config, tmp_path / "run")
    last = read_metrics(tmp_path / "run")[-1]  # values of step index 19 of 20, p = 0.95
    assert last["lambda"] == pytest.approx(2 / (1 + torch.exp(torch.tensor(-9.5)).item()) - 1)
    assert last["lr"] == pytest.approx(0.3 / (1 + 10 * 0.95) ** 0.75)


class Killed(BaseException):
    """Stands in for SIGKILL: nothing after the raise point runs."""


def test_resume_after_kill_between_checkpoints_matches_uninterrupted_run(tmp_path, tiny_config, monkeypatch):
    reference = train(tiny_config, tmp_path / "full")
    original = Trainer.next_batch

    def dying_next_batch(self):
        if int(self.method.step) == 12:
            raise Killed
        return original(self)

    monkeypatch.setattr(Trainer, "next_batch", dying_next_batch)
    with pytest.raises(Killed):
        train(tiny_config, tmp_path / "killed")
    monkeypatch.setattr(Trainer, "next_batch", original)
    assert checkpoint.load(tmp_path / "killed" / "last.pt")["step"] == 10
    assert not (tmp_path / "killed" / "summary.json").exists()

    resumed = resume(tmp_path / "killed")
    assert stable(resumed) == stable(reference)
    assert read_metrics(tmp_path / "killed") == read_metrics(tmp_path / "full")
    for name in ("last.pt", "best.pt"):
        assert_same_weights(weights(tmp_path / "killed" / name), weights(tmp_path / "full" / name))


def test_resume_after_kill_between_metrics_line_and_checkpoint_drops_the_orphan_line(tmp_path, tiny_config, monkeypatch):
    train(tiny_config, tmp_path / "full")
    original_save = checkpoint.atomic_save

    def dying_save(obj, path):
        if path.name == "last.pt" and obj["step"] == 15:
            raise Killed
        original_save(obj, path)

    monkeypatch.setattr(checkpoint, "atomic_save", dying_save)
    with pytest.raises(Killed):
        train(tiny_config, tmp_path / "killed")
    monkeypatch.setattr(checkpoint, "atomic_save", original_save)
    assert read_metrics(tmp_path / "killed")[-1]["step"] == 15  # logged, but last.pt is still step 10

    resume(tmp_path / "killed")
    assert read_metrics(tmp_path / "killed") == read_metrics(tmp_path / "full")
    assert_same_weights(weights(tmp_path / "killed" / "last.pt"), weights(tmp_path / "full" / "last.pt"))


def test_atomic_save_failure_keeps_previous_checkpoint_and_leaves_no_temp_file(tmp_path, monkeypatch):
    path = tmp_path / "last.pt"
    checkpoint.atomic_save({"step": 1, "w": torch.ones(3)}, path)

    def torn_save(obj, file):
        file.write(b"half a checkpoint")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", torn_save)
    with pytest.raises(OSError, match="disk full"):
        checkpoint.atomic_save({"step": 2, "w": torch.zeros(3)}, path)
    monkeypatch.undo()
    assert checkpoint.load(path)["step"] == 1
    assert os.listdir(tmp_path) == ["last.pt"]


@pytest.mark.parametrize("stop", ["SIGINT", "SIGTERM"])
def test_a_stop_signal_during_a_checkpoint_waits_until_it_is_written(tmp_path, stop):
    """A KeyboardInterrupt raised inside torch.save comes out as RuntimeError('unexpected pos')."""
    number = getattr(signal, stop)
    previous = signal.signal(number, signal.default_int_handler)
    path = tmp_path / "last.pt"
    written = []

    class Stopped(dict):
        def __reduce__(self):  # torch.save pickles this halfway through writing the file
            os.kill(os.getpid(), number)
            written.append("after the signal")
            return dict, (dict(self),)

    try:
        with pytest.raises(KeyboardInterrupt):
            checkpoint.atomic_save({"step": 3, "w": torch.ones(5), "late": Stopped(a=1)}, path)
        assert written == ["after the signal"]
        assert torch.load(path, weights_only=False)["step"] == 3  # complete (the stand-in needs full unpickling)
        assert os.listdir(tmp_path) == ["last.pt"]
        assert signal.getsignal(number) is signal.default_int_handler
    finally:
        signal.signal(number, previous)


def test_nan_loss_stops_with_a_clear_error_and_keeps_the_last_good_checkpoint(tmp_path, tiny_config, monkeypatch):
    original = DANN.objective

    def poisoned(self, batch):
        loss, metrics = original(self, batch)
        if int(self.step) == 13:
            loss = loss * float("nan")
            metrics["label_loss"] = loss.detach()
        return loss, metrics

    monkeypatch.setattr(DANN, "objective", poisoned)
    with pytest.raises(DivergedError, match=r"label_loss is nan at step 13; the last good checkpoint is .*last.pt \(step 10\)"):
        train(tiny_config, tmp_path / "run")
    state = checkpoint.load(tmp_path / "run" / "last.pt")
    assert state["step"] == 10
    assert all(torch.isfinite(value).all() for value in state["method"].values() if value.is_floating_point())
    assert not (tmp_path / "run" / "summary.json").exists()


@pytest.mark.parametrize("bad_step", [0, 3])
def test_a_non_finite_loss_leaves_weights_and_momentum_as_before_it(tiny_config, monkeypatch, bad_step):
    """The guard runs on the device: the bad step and every later one until the trainer's read at
    the next evaluation update nothing (a skipped first step leaves zero momentum, not garbage)."""
    original, before, live = DANN.objective, {}, {}

    def poisoned(self, batch):
        loss, metrics = original(self, batch)
        if int(self.step) == bad_step:
            before["params"] = [p.detach().clone() for p in self.parameters()]
            before["momentum"] = [s["momentum_buffer"].clone() for s in live["trainer"].engine.optimizer.state.values() if s.get("momentum_buffer") is not None]
            loss = loss * float("inf")
        return loss, metrics

    monkeypatch.setattr(DANN, "objective", poisoned)
    trainer = live["trainer"] = Trainer(tiny_config)
    with pytest.raises(DivergedError, match=rf"training diverged: loss is not finite at step {bad_step}; nothing was saved"):
        trainer.run()
    method = trainer.method
    assert method.steps_done == 5  # it ran on to the evaluation, where the guard is read
    assert all(torch.equal(p, q) for p, q in zip(method.parameters(), before["params"]))
    momentum = [trainer.engine.optimizer.state[p]["momentum_buffer"] for p in method.parameters()]
    if bad_step == 0:
        assert all(not m.any() for m in momentum)
    else:
        assert all(torch.equal(m, b) for m, b in zip(momentum, before["momentum"]))


def test_existing_run_dir_is_not_overwritten(tmp_path, tiny_config):
    train(tiny_config, tmp_path / "run")
    with pytest.raises(RunError, match="already holds a run; continue it with --resume"):
        train(tiny_config, tmp_path / "run")


def test_baselines_train_without_the_domain_loss(tmp_path, tiny_config):
    for method in ("source-only", "target-oracle"):
        summary = train(dataclasses.replace(tiny_config, method=method, method_options={}), tmp_path / method)
        line = read_metrics(tmp_path / method)[-1]
        assert summary["method"] == method and "domain_loss" not in line and line["label_loss"] > 0


def test_target_oracle_needs_target_labels(tiny_config):
    from dann_core.plugins import get_registry

    data = get_registry().build("dataset", "moons", tiny_config.dataset_options, seed=0)
    data.target_train = Split(data.target_train.x)
    with pytest.raises(RunError, match="method 'target-oracle' needs target labels"):
        train(dataclasses.replace(tiny_config, method="target-oracle", method_options={}), data=data)


def test_k_way_domains_use_cross_entropy_with_target_last(tiny_config):
    from dann_core.plugins import get_registry

    data: DomainData = get_registry().build("dataset", "moons", tiny_config.dataset_options, seed=0)
    data.domains = torch.arange(len(data.source_train)) % 2
    data.num_source_domains = 2
    trained = fit(tiny_config, data=data)
    assert trained.model.discriminator(torch.zeros(1, trained.model.backbone.out_features)).shape == (1, 3)
    assert trained.summary["final"]["domain_acc"] is not None


def test_runs_on_explicit_data_need_that_data_to_resume_or_load(tmp_path, tiny_config):
    from dann_core.plugins import get_registry

    data = get_registry().build("dataset", "moons", {"n_per_class": 20, "n_test_per_class": 30, "angle": 50}, seed=3)
    summary = train(tiny_config, tmp_path / "run", data=data)
    with pytest.raises(RunError, match="pass the same data again"):
        load_run(tmp_path / "run")
    with pytest.raises(RunError, match="pass the same data again"):
        resume(tmp_path / "run")
    assert load_run(tmp_path / "run", data=data).step == summary["best_step"]


def test_fit_returns_best_weights_and_load_run_restores_them(tmp_path, tiny_config):
    summary = train(tiny_config, tmp_path / "run")
    loaded = load_run(tmp_path / "run")
    assert loaded.step == summary["best_step"] and loaded.summary == summary
    predictions = loaded.model.predict(loaded.data.target_test.x).argmax(1)
    assert (predictions == loaded.data.target_test.y).float().mean().item() == pytest.approx(summary["target_test_acc"])

    trained = fit(tiny_config)
    assert trained.summary["target_test_acc"] == summary["target_test_acc"]
    assert_same_weights(trained.model.state_dict(), loaded.model.state_dict())
    with pytest.raises(RunError, match="no config.json"):
        load_run(tmp_path)


def test_sampler_covers_each_pass_and_resumes_its_exact_sequence():
    from dann_core.train.sampler import BatchSampler

    sampler = BatchSampler(n=5, batch_size=3, seed=0)
    first_pass = torch.cat([sampler.next(), sampler.next()[:2]])
    assert sorted(first_pass.tolist()) == [0, 1, 2, 3, 4]
    saved = sampler.state_dict()
    expected = [sampler.next() for _ in range(4)]
    restored = BatchSampler(n=5, batch_size=3, seed=99)
    restored.load_state_dict(saved)
    assert all(torch.equal(a, restored.next()) for a in expected)
    assert len(BatchSampler(n=2, batch_size=7, seed=0).next()) == 7  # batches larger than the split wrap


def test_indices_drawn_where_the_rows_live_follow_the_same_sequence():
    """The feed slices a per-pass copy of the permutation on the rows' device; the sequence (and
    the checkpointed state) is the host sampler's, across pass boundaries too."""
    from dann_core.train.sampler import BatchSampler

    host, placed = BatchSampler(10, 4, seed=3), BatchSampler(10, 4, seed=3)
    for _ in range(7):
        assert torch.equal(host.next(), placed.next(torch.device("cpu")))
    assert torch.equal(host.state_dict()["permutation"], placed.state_dict()["permutation"])


def test_running_means_of_stacked_metrics_match_per_metric_sums():
    from dann_core.metrics import RunningMeans

    means, values = RunningMeans(), torch.rand(5, 3)
    for row in values:
        means.add({"a": row[0], "b": row[1], "lr": float(row[2])})
    means.add({"a": torch.tensor(1.0), "extra": torch.tensor(6.0)})  # a step reporting other metrics
    popped = means.pop()
    assert popped["a"] == pytest.approx((float(values[:, 0].sum()) + 1.0) / 6)
    assert popped["b"] == pytest.approx(float(values[:, 1].sum()) / 6) and popped["extra"] == pytest.approx(1.0)
    assert popped["lr"] == pytest.approx(float(values[:, 2].sum()) / 6) and means.pop() == {}
