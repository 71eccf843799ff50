"""Regulariser options (``NAME_OPTION``) belong to their regulariser: refused while NAME is not in the
method's ``plus`` (through every way a config is given, before anything is written), listed once by
``dann plugins`` in a section of their own, and carried by a run's config only when given."""
from __future__ import annotations

import json
import re

import pytest
import torch
from click.testing import CliRunner

from dann_core import hookimpl
from dann_core.cli import build_cli
from dann_core.methods import REGULARIZERS, build_regularizers, composable
from dann_core.plugins import InvalidOptionError, get_plugin_manager, get_registry, validate_options
from dann_core.specs import ComponentSpec

TINY = ["--steps", "4", "--eval-every", "2", "--batch-size", "16", "--kernels", "reference", "--threads", "1",
        "--set", "dataset.n_per_class=30", "--set", "dataset.n_test_per_class=40"]
NOT_IN_PLUS = "method 'dann' option 'mcc_weight' applies only with plus=mcc (plus is ''); add plus=mcc or drop it"


def validate(spec, options):
    return validate_options(spec, options, kind="method")


def invoke(*args: str):
    return CliRunner().invoke(build_cli(), list(args), catch_exceptions=False)


def error_line(result) -> str:
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(lines) == 1, result.output
    return lines[0]


@pytest.fixture
def registry():
    return get_registry(get_plugin_manager(autoload=False))


# ------------------------------------------------------------------ refused where plus does not name it


@pytest.mark.parametrize("sets, message", [
    (["method.mcc_weight=0.1"], f"Error: --set: {NOT_IN_PLUS}"),
    (["method.mcc-weight=0.1"], f"Error: --set: {NOT_IN_PLUS}"),  # the dashed spelling is the same option
    (["method.plus=bsp", "method.afn_radius=3"],
     "Error: --set: method 'dann' option 'afn_radius' applies only with plus=afn (plus is 'bsp'); add afn to plus (plus=bsp,afn) or drop it"),
    (["method.plus=nope"], "Error: --set: unknown regulariser 'nope' in method option plus; known regularisers: afn, bsp, mcc"),
])
def test_run_refuses_an_option_of_a_regulariser_not_in_plus_before_writing(tmp_path, sets, message):
    out = tmp_path / "run"
    result = invoke("run", *TINY, *(arg for s in sets for arg in ("--set", s)), "--out", str(out))
    assert error_line(result) == message
    assert not out.exists()


@pytest.mark.parametrize("name, text", [
    ("c.toml", "[method]\nmcc_weight = 0.1\n"),
    ("c.yaml", "method:\n  mcc_weight: 0.1\n"),
    ("c.json", '{"method_options": {"mcc_weight": 0.1}}'),
])
def test_a_config_file_with_such_an_option_is_refused_naming_the_file(tmp_path, name, text):
    config_file = tmp_path / name
    config_file.write_text(text)
    result = invoke("run", *TINY, "--config", str(config_file), "--out", str(tmp_path / "run"))
    assert error_line(result) == f"Error: {config_file}: {NOT_IN_PLUS}"
    assert not (tmp_path / "run").exists()


def test_the_plus_of_a_file_and_the_option_of_set_combine(tmp_path):
    config_file = tmp_path / "c.toml"
    config_file.write_text('[method]\nplus = "mcc"\n')
    out = tmp_path / "run"
    result = invoke("run", *TINY, "--config", str(config_file), "--set", "method.mcc_weight=0.25", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert json.loads((out / "config.json").read_text())["method_options"] == {"lambda": 6.0, "plus": "mcc", "mcc_weight": 0.25}


@pytest.mark.parametrize("args", [
    ["table", "--methods", "dann[mcc_weight=0.1]"],
    ["table", "--methods", "dann", "--set", "method.mcc_weight=0.1"],
    ["sweep", "--grid", "method.mcc_weight=0.1,1"],
    ["sweep", "--grid", "method.plus=,mcc", "--set", "method.mcc_weight=0.1"],
])
def test_table_and_sweep_refuse_it_before_any_job_is_written(tmp_path, args):
    out = tmp_path / "out"
    result = invoke(*args, "--steps", "2", "--out", str(out))
    assert error_line(result).endswith(NOT_IN_PLUS)
    assert not out.exists()


def test_table_entries_naming_the_regulariser_are_accepted(tmp_path, registry):
    from dann_evaluation.tables import parse_methods

    assert parse_methods("dann[plus=mcc,mcc_weight=0.1],cdan[plus=mcc+afn,afn_radius=2]", registry) == [
        "dann[plus=mcc,mcc_weight=0.1]", "cdan[plus=mcc+afn,afn_radius=2]"]
    with pytest.raises(InvalidOptionError, match="option 'afn_radius' applies only with plus=afn .plus is 'mcc'.; add afn to plus"):
        parse_methods("cdan[plus=mcc,afn_radius=2]", registry)


def test_a_table_entry_may_set_the_options_of_a_regulariser_its_base_config_adds(tmp_path, registry):
    """``dann table --set method.plus=mcc --methods "dann[mcc_weight=0.2]"``: the entry's run has plus=mcc."""
    import dataclasses

    from dann_core.config import RunConfig
    from dann_evaluation.tables import method_config, parse_methods

    base = dataclasses.replace(RunConfig(), method_options={"plus": "mcc"})
    assert parse_methods("dann[mcc_weight=0.2]", registry, base) == ["dann[mcc_weight=0.2]"]
    assert method_config(base, "dann[mcc_weight=0.2]", registry).method_options == {"plus": "mcc", "mcc_weight": 0.2}
    with pytest.raises(InvalidOptionError, match="option 'mcc_weight' applies only with plus=mcc"):
        parse_methods("dann[mcc_weight=0.2]", registry, RunConfig())
    result = invoke("table", "--steps", "4", "--set", "eval_every=2", "--set", "batch_size=16", "--set", "threads=1",
                    "--set", "dataset.n_per_class=30", "--set", "dataset.n_test_per_class=40", "--set", "method.plus=mcc",
                    "--methods", "dann[mcc_weight=0.2]", "--seeds", "0", "--choose", "none", "--out", str(tmp_path / "t"))
    assert result.exit_code == 0, result.output


def test_validation_is_per_method_and_coerces_as_before(registry):
    for name in ("dann", "cdan", "mdd"):
        spec = registry.get("method", name)
        assert validate(spec, {"plus": "mcc+afn", "mcc_weight": "0.5", "afn-radius": "3"}) == {
            "plus": "mcc+afn", "mcc_weight": 0.5, "afn_radius": 3.0}
        with pytest.raises(InvalidOptionError, match=f"^method '{name}' option 'bsp_k' applies only with plus=bsp"):
            validate(spec, {"plus": "mcc", "bsp_k": 2})
    with pytest.raises(InvalidOptionError, match="^unknown option 'mcc_weight' for method 'mcc'; did you mean 'weight'?"):
        validate(registry.get("method", "mcc"), {"mcc_weight": 1})  # the mcc method: its own 'weight'


def test_an_unknown_option_lists_the_options_that_apply_to_this_plus(registry):
    spec = registry.get("method", "dann")
    with pytest.raises(InvalidOptionError) as bare:
        validate(spec, {"mcc_wieght": 1})
    assert str(bare.value) == "unknown option 'mcc_wieght' for method 'dann'; did you mean 'mcc_weight'? valid options: gamma, lambda, plus"
    with pytest.raises(InvalidOptionError) as with_mcc:
        validate(spec, {"plus": "mcc", "mcc_wieght": 1})
    assert str(with_mcc.value).endswith("valid options: gamma, lambda, mcc_reweight, mcc_temperature, mcc_weight, plus")


def test_the_bsp_method_refuses_plus_bsp_and_bsp_options_at_validation(registry):
    spec = registry.get("method", "bsp")
    with pytest.raises(InvalidOptionError, match=r"^method 'bsp' adds bsp itself: drop bsp from plus and set method.k / method.weight instead$"):
        validate(spec, {"plus": "mcc+bsp"})
    with pytest.raises(InvalidOptionError, match="unknown option 'bsp_k' for method 'bsp'"):
        validate(spec, {"bsp_k": 2})
    assert validate(spec, {"plus": "mcc", "mcc_weight": 0.5, "k": 2}) == {"plus": "mcc", "mcc_weight": 0.5, "k": 2}


def test_build_regularizers_names_the_regulariser_to_add():
    get_registry(get_plugin_manager(autoload=False))
    with pytest.raises(ValueError, match=r"^method option 'mcc_weight' applies only with plus=mcc \(plus is ''\); add plus=mcc or drop it$"):
        build_regularizers("", {"mcc_weight": 0.1})


# ------------------------------------------------------------------ listed once, where they apply


def test_dann_plugins_lists_a_methods_own_options_and_each_regulariser_once():
    text = invoke("plugins", "--verbose").output
    methods = text.split("\nmethods:\n", 1)[1].split("\n\n", 1)[0]
    assert "mcc_" not in methods and "afn_" not in methods and "bsp_" not in methods
    dann = re.search(r"^  dann - .*\n((?:      .*\n)*)", methods + "\n", flags=re.M).group(1).split()
    assert dann == ["lambda", "=", "'schedule'", "gamma", "=", "10.0", "plus", "=", "''"]
    regularizers = text.split("\nregularizers:\n", 1)[1]
    assert regularizers.count("mcc_weight = 1.0") == 1 and text.count("mcc_weight") == 1
    assert "  mcc - Minimum Class Confusion" in regularizers and "method.plus=mcc on bsp, cdan, dann, mdd" in regularizers
    assert "afn_radius = 0.0" in regularizers and "bsp_k = 1" in regularizers


def test_dann_plugins_json_keeps_regulariser_options_out_of_the_methods():
    described = json.loads(invoke("plugins", "--verbose", "--json").output)["components"]
    methods = {entry["name"]: entry for entry in described["methods"]}
    assert methods["dann"]["options"] == {"lambda": "schedule", "gamma": 10.0, "plus": ""}
    assert methods["bsp"]["options"] == {"lambda": "schedule", "gamma": 10.0, "k": 1, "weight": 0.0001, "plus": ""}
    regularizers = {entry["name"]: entry for entry in described["regularizers"]}
    assert regularizers["mcc"]["options"] == {"mcc_temperature": 2.5, "mcc_weight": 1.0, "mcc_reweight": True}
    assert {"cdan", "dann", "mdd", "bsp"} <= set(regularizers["mcc"]["methods"])
    assert "bsp" not in regularizers["bsp"]["methods"] and "dann" in regularizers["bsp"]["methods"]  # the bsp method adds it itself
    assert "temperature:" in regularizers["mcc"]["doc"]


# ------------------------------------------------------------------ what a run carries


def test_a_run_carries_the_options_it_was_given_and_resumes(tmp_path):
    out = tmp_path / "run"
    first = invoke("run", *TINY, "--set", "method.plus=mcc", "--set", "method.mcc_temperature=2", "--out", str(out), "--json")
    assert first.exit_code == 0, first.output
    options = {"lambda": 6.0, "plus": "mcc", "mcc_temperature": 2.0}  # moons recommends lambda; no default of any regulariser
    assert json.loads((out / "config.json").read_text())["method_options"] == options
    assert torch.load(out / "last.pt", weights_only=False)["config"]["method_options"] == options
    again = invoke("run", "--resume", str(out), "--json")
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout) == json.loads(first.output)
    from dann_core.train import load_run

    method = load_run(out).method
    assert list(method.regularizers) == ["mcc"] and method.regularizers["mcc"].temperature == 2.0


# ------------------------------------------------------------------ regularisers of third-party plugins


def test_a_regulariser_registered_by_a_later_hook_still_reaches_every_composable_method(monkeypatch):
    from dann_core import methods

    monkeypatch.setattr(methods.plus, "REGULARIZERS", dict(REGULARIZERS))

    class Entropy:
        """Target entropy.

        Options:
          weight: its factor.
        """

        def __init__(self, weight: float = 0.1):
            self.weight = weight

    class Late:
        @hookimpl(trylast=True)  # called after the built-in methods' hook has composed dann
        def register_methods(self):
            methods.register_regularizer("ent", Entropy)
            return []

    pm = get_plugin_manager(autoload=False)
    pm.register(Late(), name="late")
    registry = get_registry(pm)
    spec = registry.get("method", "dann")
    assert validate(spec, {"plus": "ent", "ent_weight": "0.3"}) == {"plus": "ent", "ent_weight": 0.3}
    with pytest.raises(InvalidOptionError, match="option 'ent_weight' applies only with plus=ent"):
        validate(spec, {"ent_weight": 0.3})
    assert {entry["name"] for entry in registry.describe()["components"]["regularizers"]} == {"afn", "bsp", "ent", "mcc"}


def test_composable_keeps_a_methods_own_option_and_is_idempotent(monkeypatch):
    from dann_core import methods

    monkeypatch.setattr(methods.plus, "REGULARIZERS", dict(REGULARIZERS))
    get_registry(get_plugin_manager(autoload=False))

    def factory(context, mcc_weight: float = 9.0, plus: str = "", **regularizer_options):
        """A method with an option that looks like a regulariser's."""

    spec = composable(ComponentSpec.from_factory("own", factory))
    assert spec.options["mcc_weight"] == 9.0 and spec.option_owner("mcc_weight") is None
    assert validate(spec, {"mcc_weight": 1}) == {"mcc_weight": 1.0}  # its own: no plus needed
    assert composable(spec).own_options == spec.own_options == {"mcc_weight": 9.0, "plus": ""}


def test_a_config_files_list_for_plus_is_the_comma_separated_names(tmp_path, registry):
    from dann_core.options import coerce_option

    assert coerce_option(["mcc", "bsp"], "", where="x") == "mcc,bsp" and coerce_option(("a", 1), "", where="x") == "a,1"
    config_file = tmp_path / "c.yaml"
    config_file.write_text("method:\n  plus: [mcc, bsp]\n  bsp_weight: 0.01\n  afn_radius: 2\n")
    result = invoke("run", *TINY, "--config", str(config_file), "--out", str(tmp_path / "run"))
    assert error_line(result) == (f"Error: {config_file}: method 'dann' option 'afn_radius' applies only with plus=afn (plus is 'mcc,bsp'); "
                                  "add afn to plus (plus=mcc,bsp,afn) or drop it")
    assert validate(registry.get("method", "dann"), {"plus": ["mcc", "bsp"], "bsp_weight": 0.01}) == {"plus": "mcc,bsp", "bsp_weight": 0.01}


# ------------------------------------------------------------------ recommendations follow the same rule


class _RecommendsMcc:
    """A dataset plugin that recommends MCC's weight (as a component may for its task)."""

    @hookimpl
    def register_datasets(self):
        from dann_datasets.moons import make_moons_problem

        return [ComponentSpec.from_factory("moons-mcc", make_moons_problem, recommended={"method.mcc_weight": 0.25})]


def test_a_recommended_regulariser_option_applies_only_while_its_regulariser_is_in_plus():
    from dann_core.config import resolve

    pm = get_plugin_manager(autoload=False)
    pm.register(_RecommendsMcc(), name="recommends-mcc")
    registry = get_registry(pm)
    without = resolve(sets=["dataset=moons-mcc"], registry=registry)
    assert "mcc_weight" not in without.method_options  # skipped: the run is not refused for it
    with_mcc = resolve(sets=["dataset=moons-mcc", "method.plus=mcc"], registry=registry)
    assert with_mcc.method_options["mcc_weight"] == 0.25
