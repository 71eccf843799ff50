"""The word is "method" everywhere (issue 29): what was written with the old names keeps working.

A third-party plugin that implements ``register_algorithms`` and subclasses ``Algorithm`` from
``dann_core.algorithms`` registers, trains and evaluates, with one warning naming the new name; a
checkpoint that stores the method under the old key ``algorithm`` (format 2) resumes and evaluates.
"""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import warnings

import pytest
import torch
from click.testing import CliRunner

from dann_core import checkpoint
from dann_core.cli import build_cli
from dann_core.plugins import get_plugin_manager, get_registry
from dann_core.train import RunError, Trainer, load_run, resume, train
from tests.builtins.test_method_plugins import install_distribution, train_killed_at

OLD_PLUGIN = '''
"""A plugin written before the rename: register_algorithms, Algorithm, AlgorithmContext."""
import torch.nn.functional as F

from dann_core import hookimpl
from dann_core.algorithms import SOURCE, Algorithm, AlgorithmContext, Batch
from dann_core.algorithms.base import accuracy
from dann_core.specs import ComponentSpec


class OldSourceOnly(Algorithm):
    needs = frozenset({SOURCE})

    def __init__(self, context: AlgorithmContext, weight: float = 1.0) -> None:
        super().__init__(context)
        self.weight = float(weight)

    def objective(self, batch: Batch):
        logits = self.model.classifier(self.model.backbone(batch.source_x))
        loss = F.cross_entropy(logits, batch.source_y)
        return self.weight * loss, {"label_loss": loss.detach(), "train_acc": accuracy(logits, batch.source_y)}


@hookimpl
def register_algorithms():
    return [ComponentSpec.from_factory("old-source-only", OldSourceOnly)]
'''

RENAMED_LINE = "implements register_algorithms, which is renamed register_methods"


def _python(code: str) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter that shows every DeprecationWarning (no 'once' per place)."""
    return subprocess.run([sys.executable, "-W", "always::DeprecationWarning", "-c", textwrap.dedent(code)],
                          capture_output=True, text=True, timeout=120)


def _deprecations(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "DeprecationWarning" in line]


# ---------------------------------------------------------------------------------- old plugins


def test_an_old_plugin_registered_by_hand_gives_its_methods_and_one_deprecation_warning(tmp_path, monkeypatch):
    (tmp_path / "old_plugin_by_hand.py").write_text(OLD_PLUGIN)
    monkeypatch.syspath_prepend(str(tmp_path))
    import old_plugin_by_hand

    pm = get_plugin_manager(autoload=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pm.register(old_plugin_by_hand, name="old")
        registry = get_registry(pm)
    renamed = [w for w in caught if issubclass(w.category, DeprecationWarning) and "register_algorithms" in str(w.message)]
    assert [str(w.message) for w in renamed] == [f"dann plugin 'old' {RENAMED_LINE}: rename the function (it works until then)"]
    assert pm.deprecated == {"old": str(renamed[0].message)}
    assert "old-source-only" in registry.of_kind("method") and registry.provider[("method", "old-source-only")] == "old"
    assert "dann" in registry.methods  # the built-ins, through register_methods, alongside


def test_an_old_plugin_installed_by_entry_point_trains_and_evaluates_with_one_warning_line(tmp_path, monkeypatch):
    install_distribution(tmp_path / "site", monkeypatch, "dann-old-example", {"old": "dann_old_example"}, {"dann_old_example": OLD_PLUGIN})
    runner = CliRunner()
    listed = runner.invoke(build_cli(), ["plugins", "--json"])
    assert listed.exit_code == 0, listed.output
    row = next(row for row in json.loads(listed.stdout)["plugins"] if row["name"] == "old")
    assert row["provides"] == {"methods": ["old-source-only"]} and "error" not in row
    assert [line for line in listed.stderr.splitlines() if "register_algorithms" in line] == [
        f"warning: dann plugin 'old' {RENAMED_LINE}: rename the function (it works until then)"]

    out = tmp_path / "run"
    ran = runner.invoke(build_cli(), ["run", "--method", "old-source-only", "--set", "method.weight=0.5", "--steps", "10",
                                      "--eval-every", "5", "--threads", "1", "--out", str(out), "--json"])
    assert ran.exit_code == 0, ran.output
    assert sum(RENAMED_LINE in line for line in ran.stderr.splitlines()) == 1
    method = json.loads((out / "config.json").read_text())["provenance"]["components"]["method"]
    assert method == {"name": "old-source-only", "plugin": "old", "distribution": "dann-old-example", "version": "0.3.0"}
    evaluated = runner.invoke(build_cli(), ["eval", str(out), "--json"])
    assert evaluated.exit_code == 0 and json.loads(evaluated.stdout)["target_test_acc"] is not None


def test_importing_the_old_names_warns_once_naming_the_new_ones():
    old_module = _python("""
        from dann_core.algorithms import SOURCE, Algorithm, AlgorithmContext
        from dann_core.algorithms.base import Batch
        from dann_core.methods import Method, MethodContext
        from dann_core.methods.base import Batch as B
        assert Algorithm is Method and AlgorithmContext is MethodContext and Batch is B and SOURCE == "source"
    """)
    assert old_module.returncode == 0, old_module.stderr
    (line,) = _deprecations(old_module.stderr)
    assert "dann_core.algorithms is renamed dann_core.methods" in line and "Algorithm is Method" in line

    old_names = _python("""
        from dann_core.methods import Algorithm
        from dann_core.methods import Algorithm as Again
        from dann_core.train import Algorithm as Third
        from dann_core.methods import Method
        assert Algorithm is Again is Third is Method
    """)
    assert old_names.returncode == 0, old_names.stderr
    assert [line.split("DeprecationWarning: ")[1] for line in _deprecations(old_names.stderr)] == [
        "dann_core.methods.Algorithm is renamed dann_core.methods.Method; import Method from dann_core.methods",
        "dann_core.train.Algorithm is renamed dann_core.methods.Method; import Method from dann_core.methods",
    ]


def test_the_old_kind_name_and_attribute_names_still_answer(tiny_config, monkeypatch):
    from dann_core.plugins import registry as registry_module
    from dann_core.train import errors

    monkeypatch.setattr(registry_module, "_WARNED_KINDS", set())
    monkeypatch.setattr(errors, "_WARNED", set())
    registry = get_registry(get_plugin_manager(autoload=False))
    with pytest.warns(DeprecationWarning, match="component kind 'algorithm' is renamed 'method'") as caught:
        assert registry.get("algorithm", "dann") is registry.get("method", "dann")
        assert registry.of_kind("algorithm") is registry.methods
        assert registry.algorithms is registry.methods
    assert len(caught) == 1
    trainer = Trainer(tiny_config, registry=registry)
    with pytest.warns(DeprecationWarning, match="Trainer.algorithm is renamed Trainer.method"):
        assert trainer.algorithm is trainer.method
    from dann_core.selection import Candidate, SelectionData

    candidate = Candidate(0, trainer.method, SelectionData.of(trainer.data, 0))
    with pytest.warns(DeprecationWarning, match="Candidate.algorithm is renamed Candidate.method"):
        assert candidate.algorithm is trainer.method


# ---------------------------------------------------------------------------- old checkpoints


def _to_old_key(path) -> None:
    """Rewrite a checkpoint as dann wrote it before the rename: format 2, the method under ``algorithm``."""
    state = torch.load(path, weights_only=True)
    state["algorithm"] = state.pop("method")
    state["format"] = 2
    checkpoint.atomic_save(state, path)
    assert "method" not in torch.load(path, weights_only=True)


def _same(summary: dict) -> dict:
    return {k: v for k, v in summary.items() if k not in ("seconds", "eval_seconds", "run_dir")}


def test_a_checkpoint_with_the_old_key_resumes_exactly_and_evaluates(tmp_path, tiny_config, monkeypatch):
    full = train(tiny_config, tmp_path / "full")
    train_killed_at(12, tiny_config, tmp_path / "killed", monkeypatch)
    killed = tmp_path / "killed"
    for path in [killed / "last.pt", killed / "best.pt", *sorted((killed / "candidates").glob("*.pt"))]:
        _to_old_key(path)
    assert _same(resume(killed)) == _same(full)
    assert checkpoint.load(killed / "last.pt")["method"].keys() == checkpoint.load(tmp_path / "full" / "last.pt")["method"].keys()
    assert torch.load(killed / "last.pt", weights_only=True)["format"] == 3  # written again by this dann

    runner = CliRunner()
    before = runner.invoke(build_cli(), ["eval", str(tmp_path / "full"), "--json"])
    assert before.exit_code == 0, before.output
    for name in ("best.pt", "last.pt"):
        _to_old_key(tmp_path / "full" / name)
    after = runner.invoke(build_cli(), ["eval", str(tmp_path / "full"), "--json"])
    assert after.exit_code == 0, after.output
    assert json.loads(after.stdout) == json.loads(before.stdout)
    assert load_run(tmp_path / "full", checkpoint="last").step == 20


def test_a_checkpoint_of_an_unknown_format_is_one_line_naming_the_formats_read(tmp_path, tiny_config):
    train(tiny_config, tmp_path / "run")
    state = torch.load(tmp_path / "run" / "best.pt", weights_only=True)
    state["format"] = 4
    checkpoint.atomic_save(state, tmp_path / "run" / "best.pt")
    with pytest.raises(RunError) as error:
        load_run(tmp_path / "run")
    assert str(error.value) == (f"{tmp_path / 'run' / 'best.pt'} has checkpoint format 4, this dann reads formats 2 and 3; "
                                "retrain the run")
