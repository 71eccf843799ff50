"""Methods are plugins: the built-ins (dann, cdan, source-only, target-oracle) and a third-party one."""
from __future__ import annotations

import dataclasses
import importlib
import json
import sys
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from dann_methods.cdan import CDAN, MultilinearMap, entropy_weights
from dann_core import checkpoint
from dann_core.methods import SOURCE, Method, MethodContext, OptimSettings
from dann_core.cli import build_cli
from dann_core.metrics import MetricsLog
from dann_core.plugins import AUTOLOAD_ENV, ComponentError, get_plugin_manager, get_registry
from dann_core.specs import ComponentSpec
from dann_core.train import RunError, Trainer, fit, load_run, resume, train
from tests.paths import TEST_PLUGINS



@pytest.fixture
def mmd_registry(monkeypatch):
    """A registry with tests/plugins/dann_testplugin_mmd.py registered by hand."""
    monkeypatch.syspath_prepend(str(TEST_PLUGINS))
    pm = get_plugin_manager(autoload=False)
    pm.register(importlib.import_module("dann_testplugin_mmd"), name="mmd")
    return get_registry(pm)


def install_distribution(root: Path, monkeypatch, name: str, entry_points: dict[str, str], modules: dict[str, str]) -> None:
    """Put a distribution ``name`` 0.3.0 with ``dann`` entry points on sys.path, as pip would."""
    info = root / f"{name.replace('-', '_')}-0.3.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.3.0\n")
    (info / "entry_points.txt").write_text("[dann]\n" + "".join(f"{k} = {v}\n" for k, v in entry_points.items()))
    for module, source in modules.items():
        (root / f"{module}.py").write_text(source)
        monkeypatch.delitem(sys.modules, module, raising=False)
    monkeypatch.syspath_prepend(str(root))
    monkeypatch.delenv(AUTOLOAD_ENV, raising=False)


class Killed(BaseException):
    """Stands in for SIGKILL."""


def train_killed_at(step: int, cfg, run_dir, monkeypatch, registry=None) -> None:
    """Train ``cfg`` into ``run_dir`` and kill it (an exception out of the loop) just before ``step``."""
    original = Trainer.next_batch

    def dying(self):
        if self.method.steps_done == step:
            raise Killed
        return original(self)

    monkeypatch.setattr(Trainer, "next_batch", dying)
    with pytest.raises(Killed):
        train(cfg, run_dir, registry=registry)
    monkeypatch.setattr(Trainer, "next_batch", original)


def test_a_plugin_method_trains_resumes_exactly_and_evaluates_with_a_registry(tmp_path, tiny_config, mmd_registry, monkeypatch):
    cfg = dataclasses.replace(tiny_config, method="mmd-test", method_options={"weight": "0.5"})
    full = train(cfg, tmp_path / "full", registry=mmd_registry)
    lines = MetricsLog(tmp_path / "full" / "metrics.jsonl").read()
    assert "mmd" in lines[-1] and "domain_loss" not in lines[-1]
    recorded = json.loads((tmp_path / "full" / "config.json").read_text())
    assert recorded["method_options"] == {"weight": "0.5"}
    assert recorded["provenance"]["components"]["method"]["plugin"] == "mmd"

    train_killed_at(12, cfg, tmp_path / "killed", monkeypatch, registry=mmd_registry)
    resumed = resume(tmp_path / "killed", registry=mmd_registry)
    assert MetricsLog(tmp_path / "killed" / "metrics.jsonl").read() == lines
    assert {k: v for k, v in resumed.items() if k not in ("seconds", "eval_seconds", "run_dir")} == {
        k: v for k, v in full.items() if k not in ("seconds", "eval_seconds", "run_dir")}
    a, b = (checkpoint.load(tmp_path / d / "last.pt")["method"] for d in ("full", "killed"))
    assert "mmd_ema" in a and all(torch.equal(a[k], b[k]) for k in a)

    run = load_run(tmp_path / "full", registry=mmd_registry)
    acc = (run.model.predict(run.data.target_test.x).argmax(1) == run.data.target_test.y).float().mean().item()
    assert acc == pytest.approx(full["target_test_acc"])
    with pytest.raises(RunError, match="came from|unknown"):
        load_run(tmp_path / "full", registry=get_registry(get_plugin_manager(autoload=False)))


def test_a_plugin_method_installed_by_entry_point_runs_through_the_cli(tmp_path, monkeypatch):
    source = (TEST_PLUGINS / "dann_testplugin_mmd.py").read_text()
    install_distribution(tmp_path / "site", monkeypatch, "dann-mmd-example", {"mmd": "dann_mmd_example"}, {"dann_mmd_example": source})
    out = tmp_path / "run"
    runner = CliRunner()
    args = ["run", "--method", "mmd-test", "--set", "method.weight=2", "--steps", "10", "--eval-every", "5", "--out", str(out), "--json"]
    result = runner.invoke(build_cli(), args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    method = json.loads((out / "config.json").read_text())["provenance"]["components"]["method"]
    assert method == {"name": "mmd-test", "plugin": "mmd", "distribution": "dann-mmd-example", "version": "0.3.0"}
    evaluated = runner.invoke(build_cli(), ["eval", str(out), "--json"], catch_exceptions=False)
    assert evaluated.exit_code == 0 and json.loads(evaluated.output)["target_test_acc"] is not None
    listing = json.loads(runner.invoke(build_cli(), ["plugins", "--json"]).output)["plugins"]
    assert any(row["provides"].get("methods") == ["mmd-test"] for row in listing)
    missing = runner.invoke(build_cli(), ["--no-plugins", "eval", str(out)])
    assert missing.exit_code == 2
    assert "came from dann-mmd-example 0.3.0, which is not installed (or is disabled by --no-plugins); pip install dann-mmd-example" in missing.output


def test_no_plugins_run_works_while_a_broken_third_party_plugin_is_installed(tmp_path, monkeypatch):
    install_distribution(tmp_path / "site", monkeypatch, "dann-broken", {"broken": "dann_broken_mod"},
                         {"dann_broken_mod": "raise ImportError('no such thing')\n"})
    runner = CliRunner()
    result = runner.invoke(build_cli(), ["--no-plugins", "run", "--steps", "5", "--eval-every", "5", "--out", str(tmp_path / "r"), "--json"])
    assert result.exit_code == 0, result.output
    assert "dann_broken_mod" not in sys.modules  # never imported
    warned = runner.invoke(build_cli(), ["run", "--steps", "5", "--eval-every", "5", "--out", str(tmp_path / "r2")])
    assert warned.exit_code == 0, warned.output  # runs without it, after one warning line
    assert warned.stderr.count("cannot load dann plugin") == 1 and "dann-broken" in warned.stderr


def test_cdan_multilinear_map_exact_and_randomised():
    exact = MultilinearMap(6, 3)
    features, probs = torch.randn(4, 6), torch.softmax(torch.randn(4, 3), dim=1)
    assert torch.allclose(exact(features, probs), torch.einsum("nc,nf->ncf", probs, features).reshape(4, 18))
    assert exact.out_features == 18 and not list(exact.buffers())
    rand = MultilinearMap(6, 3, random_dim=16)
    expected = (features @ rand.feature_projection) * (probs @ rand.class_projection) / 4.0
    assert torch.allclose(rand(features, probs), expected) and rand.out_features == 16
    assert not list(rand.parameters())  # fixed projections: buffers, saved but never trained


def test_cdan_randomises_wide_maps_and_keeps_projections_in_checkpoints(tiny_config):
    registry = get_registry()
    wide = fit(dataclasses.replace(tiny_config, method="cdan", backbone_options={"width": 100}, method_options={"random_dim": 32}))
    assert wide.method.multilinear.random_dim == 0  # 100 features × 2 classes = 200 ≤ 4096: exact
    forced = fit(dataclasses.replace(tiny_config, method="cdan", method_options={"multilinear": "random", "random_dim": 32}),
                 registry=registry)
    assert forced.method.multilinear.out_features == 32
    assert "multilinear.feature_projection" in forced.method.state_dict()
    with pytest.raises(ValueError, match="bad cdan multilinear 'wide': choose from auto, exact, random"):
        fit(dataclasses.replace(tiny_config, method="cdan", method_options={"multilinear": "wide"}))


def test_cdan_entropy_weights_give_each_domain_an_equal_share():
    probs = torch.tensor([[1.0, 0.0], [0.5, 0.5], [0.9, 0.1], [0.5, 0.5], [0.5, 0.5]])
    weights = entropy_weights(probs, 2)
    assert weights[:2].sum() == pytest.approx(2.5) and weights[2:].sum() == pytest.approx(2.5)  # N / 2 each
    assert weights[0] > weights[1]  # confident rows weigh more: 1 + e^-H
    k_way = entropy_weights(probs, torch.tensor([0, 1, 1, 2, 2]), num_domains=3)
    assert [float(k_way[d].sum()) for d in ([0], [1, 2], [3, 4])] == pytest.approx([5 / 3] * 3)


@pytest.mark.parametrize("options", [{}, {"entropy": "true"}])
def test_cdan_trains_with_a_domain_loss(tiny_config, options):
    trained = fit(dataclasses.replace(tiny_config, method="cdan", method_options={"lambda": "schedule", **options}))
    assert isinstance(trained.method, CDAN) and trained.method.entropy == bool(options)
    final = trained.summary["final"]
    assert final["domain_loss"] is not None and 0 <= final["domain_acc"] <= 1
    features = trained.model.backbone(trained.data.target_test.x[:5])
    assert trained.method.domain_logits(features, trained.model.classifier(features)).shape == (5, 1)


def test_baselines_build_no_discriminator_and_ignore_its_options(tiny_config):
    trained = fit(dataclasses.replace(tiny_config, method="source-only", method_options={}))
    assert trained.model.discriminator is None and trained.method.domain_logits(torch.zeros(2, 15), torch.zeros(2, 2)) is None


def test_method_contract_violations_name_the_plugin(tiny_config):
    class Confused(Method):
        needs = frozenset({SOURCE, "target_unlabeled"})

    def not_a_method(context: MethodContext, size: int = 3):
        """Returns the wrong thing."""
        return torch.nn.Linear(2, 2)

    class Plugin:
        from dann_core import hookimpl

        @hookimpl
        def register_methods(self):
            return [ComponentSpec.from_factory("confused", Confused), ComponentSpec.from_factory("wrong", not_a_method)]

    pm = get_plugin_manager(autoload=False)
    pm.register(Plugin(), name="contract")
    registry = get_registry(pm)
    with pytest.raises(ComponentError,
                       match=r"method 'confused' of plugin 'contract' failed: TypeError: Confused.needs has unknown batch kinds \['target_unlabeled'\]"):
        fit(dataclasses.replace(tiny_config, method="confused", method_options={}), registry=registry)
    with pytest.raises(ComponentError, match="method 'wrong' of plugin 'contract' returned a Linear, expected a dann_core.methods.Method"):
        fit(dataclasses.replace(tiny_config, method="wrong", method_options={}), registry=registry)


def test_optimiser_covers_every_parameter_the_method_adds():
    context = MethodContext(torch.nn.Linear(2, 3), torch.nn.Linear(3, 2), lambda width: torch.nn.Linear(width, 1), 2, 2,
                               OptimSettings(steps=10, lr=0.1))
    method = get_registry().build("method", "dann", {}, context=context)
    from dann_core.train import Engine

    optimised = {id(p) for group in Engine(method, "cpu").optimizer.param_groups for p in group["params"]}
    assert optimised == {id(p) for p in method.parameters()} and method.model.discriminator is not None
