"""The plugin manager, the registry, option coercion and the ``dann plugins`` listing."""
from __future__ import annotations

import ast
import importlib
import inspect
import json
import sys
from pathlib import Path

import click
from click.testing import CliRunner
import pytest

from dann_core import hookspecs
from dann_core.cli import build_cli
from dann_core.plugins import (
    AUTOLOAD_ENV,
    ComponentError,
    DuplicateComponentError,
    InvalidOptionError,
    PluginWarning,
    UnknownComponentError,
    coerce_option,
    format_listing,
    get_plugin_manager,
    get_registry,
    plugin_listing,
)
from dann_core.specs import ComponentSpec, DomainData
from tests.paths import ROOT, TEST_PLUGINS

FIRST_PARTY = {"datasets", "backbones", "discriminators"}


@pytest.fixture
def test_plugin(monkeypatch):
    """Import a module from tests/plugins/ by name."""
    monkeypatch.syspath_prepend(str(TEST_PLUGINS))
    return importlib.import_module


@pytest.fixture
def fake_distribution(tmp_path, monkeypatch):
    """Install (on sys.path) a third-party distribution 'fake-dann-plugin' with the given dann entry points."""

    def install(entry_points: dict[str, str], modules: dict[str, str]) -> None:
        info = tmp_path / "fake_dann_plugin-1.2.3.dist-info"
        info.mkdir()
        (info / "METADATA").write_text("Metadata-Version: 2.1\nName: fake-dann-plugin\nVersion: 1.2.3\n")
        lines = "".join(f"{name} = {target}\n" for name, target in entry_points.items())
        (info / "entry_points.txt").write_text("[dann]\n" + lines)
        for module, source in modules.items():
            (tmp_path / f"{module}.py").write_text(source)
            monkeypatch.delitem(sys.modules, module, raising=False)
        monkeypatch.syspath_prepend(str(tmp_path))

    monkeypatch.delenv(AUTOLOAD_ENV, raising=False)
    return install


FAKE_PLUGIN_SOURCE = '''
from dann_core import hookimpl
from dann_core.specs import ComponentSpec

def make_fake(seed: int, size: int = 3):
    """A fake dataset."""
    return size

@hookimpl
def register_datasets():
    return [ComponentSpec.from_factory("fake-data", make_fake)]
'''


# ------------------------------------------------------------------------------------ hook specs


def test_every_hook_is_specified_with_a_docstring():
    specs = {name: fn for name, fn in inspect.getmembers(hookspecs, inspect.isfunction) if hasattr(fn, "dann_spec")}
    assert set(specs) == {"register_datasets", "register_backbones", "register_discriminators", "register_methods", "register_selectors", "register_loggers",
                          "register_launchers", "register_commands",
                          "register_algorithms"}  # the old name of register_methods, still called (test_plugins_renamed.py)
    for name, fn in specs.items():
        assert (fn.__doc__ or "").strip(), f"hook {name} has no docstring"


def test_register_commands_hook_adds_a_click_command(test_plugin):
    pm = get_plugin_manager(autoload=False)
    pm.register(test_plugin("dann_testplugin_blobs"))
    group = click.Group("dann")
    pm.hook.register_commands(cli=group)
    result = CliRunner().invoke(group, ["blobs-hello"])
    assert result.exit_code == 0 and result.output == "hello from blobs\n"


# ------------------------------------------------------------------------------- plugin manager


def test_first_party_plugins_load_through_entry_points_even_with_autoload_off(monkeypatch):
    monkeypatch.setenv(AUTOLOAD_ENV, "1")
    pm = get_plugin_manager()
    assert FIRST_PARTY <= {name for name, _ in pm.list_name_plugin()}
    assert {pm.sources[name].distribution for name in FIRST_PARTY} == {"dann"}


def test_each_call_builds_a_fresh_manager(test_plugin):
    first = get_plugin_manager(autoload=False)
    first.register(test_plugin("dann_testplugin_blobs"), name="blobs")
    assert first is not get_plugin_manager(autoload=False)
    assert "test-blobs" in get_registry(first).datasets
    assert "test-blobs" not in get_registry(get_plugin_manager(autoload=False)).datasets


def test_third_party_entry_points_follow_autoload(fake_distribution, monkeypatch):
    fake_distribution({"fake": "fake_dann_module"}, {"fake_dann_module": FAKE_PLUGIN_SOURCE})
    loaded = get_plugin_manager()
    assert loaded.sources["fake"].distribution == "fake-dann-plugin"
    with pytest.raises(ComponentError,
                       match="^dataset 'fake-data' of plugin 'fake' \\(fake-dann-plugin 1.2.3\\) returned an int, expected a dann_core.specs.DomainData$"):
        get_registry(loaded).build("dataset", "fake-data", {"size": "5"}, seed=0)  # the factory ran; its result is checked
    assert "fake" not in dict(get_plugin_manager(autoload=False).list_name_plugin())
    monkeypatch.setenv(AUTOLOAD_ENV, "1")
    assert "fake" not in dict(get_plugin_manager().list_name_plugin())
    assert "fake" in dict(get_plugin_manager(autoload=True).list_name_plugin())


def test_plugin_that_fails_to_import_is_skipped_and_named(fake_distribution):
    fake_distribution({"broken": "fake_broken_module"}, {"fake_broken_module": "import no_such_module_xyz\n"})
    with pytest.warns(PluginWarning, match="dann plugin 'broken' \\(fake-dann-plugin 1.2.3\\) is broken"):
        pm = get_plugin_manager(autoload=True)
    message = pm.broken["broken"].error
    assert "'fake-dann-plugin'" in message and "broken = fake_broken_module" in message
    assert "no_such_module_xyz" in message and "\n" not in message
    assert "moons" in get_registry(pm).datasets  # the others still load


def test_third_party_entry_point_cannot_take_a_first_party_name(fake_distribution):
    fake_distribution({"datasets": "fake_dann_module"}, {"fake_dann_module": FAKE_PLUGIN_SOURCE})
    with pytest.warns(PluginWarning):
        pm = get_plugin_manager(autoload=True)
    (broken,) = pm.broken.values()
    assert "'datasets' is used by two distributions: 'dann' and 'fake-dann-plugin'" in broken.error
    assert pm.sources["datasets"].distribution == "dann"


# ------------------------------------------------------------------------------------- registry


def test_registry_lists_the_built_ins():
    registry = get_registry(get_plugin_manager(autoload=False))
    assert set(registry.datasets) == {"moons", "digits-blend", "npz", "image-folder", "mnist", "mnist-m"}
    assert set(registry.backbones) == {"mlp", "lenet", "svhn-net", "resnet18", "resnet50", "auto"}
    assert set(registry.discriminators) == {"mlp"}
    assert set(registry.methods) == {"dann", "cdan", "source-only", "target-oracle", "mcc", "mdd", "dan", "jan", "mcd", "adda", "bsp", "afn"}
    assert registry.provider[("dataset", "moons")] == "datasets"


def test_test_plugin_dataset_builds_on_a_fresh_manager(test_plugin):
    pm = get_plugin_manager(autoload=False)
    pm.register(test_plugin("dann_testplugin_blobs"), name="blobs")
    registry = get_registry(pm)
    data = registry.build("dataset", "test-blobs", {"n": "4", "shift": "2.5"}, seed=1)
    assert isinstance(data, DomainData) and data.target_train.x.shape == (4, 2)
    assert registry.provider[("dataset", "test-blobs")] == "blobs"


def test_duplicate_name_names_both_plugins(test_plugin):
    pm = get_plugin_manager(autoload=False)
    pm.register(test_plugin("dann_testplugin_duplicate"), name="duplicate-moons")
    with pytest.raises(DuplicateComponentError) as error:
        get_registry(pm)
    assert str(error.value) == "dataset 'moons' is registered by two plugins: 'datasets' and 'duplicate-moons'"


def test_non_spec_return_value_names_the_plugin_and_skips_it(test_plugin):
    pm = get_plugin_manager(autoload=False)
    pm.register(test_plugin("dann_testplugin_bad").ReturnsStrings(), name="strings")
    with pytest.warns(PluginWarning, match="plugin 'strings' is broken"):
        registry = get_registry(pm)
    assert pm.broken["strings"].error == (
        "its register_discriminators() returned a list holding a str, expected a list of dann_core.specs.ComponentSpec"
    )
    assert "mlp" in registry.discriminators


def test_factory_parameter_without_default_outside_the_context_is_one_error_at_registration():
    class Plugin:
        @staticmethod
        @__import__("dann_core").hookimpl
        def register_datasets():
            def needs_angle(seed: int, angle, size: int = 3):
                """A dataset whose 'angle' forgot its default."""

            return [ComponentSpec.from_factory("no-default", needs_angle)]

    pm = get_plugin_manager(autoload=False)
    pm.register(Plugin(), name="forgetful")
    with pytest.warns(PluginWarning, match="plugin 'forgetful' is broken"):
        registry = get_registry(pm)
    assert pm.broken["forgetful"].error == (
        "its register_datasets() returned dataset 'no-default' whose factory parameter 'angle' has no default; "
        "give it one (it is an option) — the context arguments of a dataset factory are seed"
    )
    assert "no-default" not in registry.datasets and "moons" in registry.datasets


def test_the_kinds_table_matches_the_hook_specs_and_the_config():
    from dann_core.config import COMPONENT_KINDS, COMPONENTS
    from dann_core.plugins import KINDS
    from dann_core.plugins.kinds import BY_NAME, TABLE

    specs = {name: fn for name, fn in inspect.getmembers(hookspecs, inspect.isfunction) if hasattr(fn, "dann_spec")}
    assert {hook for kind in TABLE for hook in kind.hooks} == set(specs)
    for kind in TABLE:  # every context argument the host passes is documented with the hook
        documented = (specs[kind.hook].__doc__ or "") + (hookspecs.__doc__ or "")
        for argument in kind.context:
            assert f"{argument}" in documented, (kind.name, argument)
    assert KINDS == ("dataset", "backbone", "discriminator", "method", "selector", "logger", "launcher")
    assert COMPONENT_KINDS == {"dataset": "dataset", "backbone": "backbone", "discriminator": "discriminator", "method": "method", "select": "selector"}
    assert COMPONENTS == tuple(COMPONENT_KINDS) and not BY_NAME["command"].component


def test_method_contract_is_structural():
    """Any nn.Module with needs, predict and objective (or update) passes; the plugins layer never imports dann_core.methods."""
    import torch

    from dann_core.plugins.kinds import contract_problem

    class DuckMethod(torch.nn.Module):
        needs = frozenset({"source"})

        def predict(self, x):
            return x

        def objective(self, batch):
            return torch.zeros(()), {}

    class Updates(DuckMethod):
        objective = None

        def update(self, batch):
            return {}

    class NoPredict(DuckMethod):
        predict = None

    class StringNeeds(DuckMethod):
        needs = "source"

    assert contract_problem("method", DuckMethod()) is None and contract_problem("method", Updates()) is None
    assert contract_problem("method", NoPredict()) == "returned a NoPredict, expected a dann_core.methods.Method (no predict(x))"
    assert contract_problem("method", StringNeeds()) == (
        "returned a StringNeeds, expected a dann_core.methods.Method (its needs is 'source', not a set of batch kinds)"
    )
    assert contract_problem("method", "dann") == "returned a str, expected a dann_core.methods.Method (it is not a torch.nn.Module)"
    assert contract_problem("selector", object()) == (
        "returned an object without a score(candidate) method, expected a Selector (see the register_selectors hook)")


def test_unknown_name_suggests_the_closest_and_lists_choices():
    registry = get_registry(get_plugin_manager(autoload=False))
    with pytest.raises(UnknownComponentError) as error:
        registry.get("dataset", "moon")
    assert str(error.value) == (
        "unknown dataset 'moon'; did you mean 'moons'? choices: digits-blend, image-folder, mnist, mnist-m, moons, npz"
    )
    with pytest.raises(UnknownComponentError, match="^unknown backbone 'zzz'; choices: auto, lenet, mlp, resnet18"):
        registry.get("backbone", "zzz")
    with pytest.raises(ValueError, match="unknown component kind 'model'"):
        registry.get("model", "mlp")


def test_build_coerces_string_options_and_accepts_dashes():
    registry = get_registry(get_plugin_manager(autoload=False))
    backbone = registry.build("backbone", "mlp", {"width": "7", "depth": "2", "activation": "relu"}, input_shape=(2,))
    assert backbone.out_features == 7 and len(backbone.layers) == 5
    data = registry.build("dataset", "moons", {"n-per-class": "5", "n_test_per_class": 3, "angle": "90"}, seed=0)
    assert len(data.source_train) == 10 and len(data.target_test) == 6
    head = registry.build("discriminator", "mlp", {"hidden": "4,3"}, in_features=2, num_domains=2)
    assert [layer.out_features for layer in head.layers if hasattr(layer, "out_features")] == [4, 3, 1]


def test_unknown_option_names_it_and_the_valid_ones():
    registry = get_registry(get_plugin_manager(autoload=False))
    with pytest.raises(InvalidOptionError) as error:
        registry.build("dataset", "moons", {"angel": "3"}, seed=0)
    assert str(error.value) == (
        "unknown option 'angel' for dataset 'moons'; did you mean 'angle'? "
        "valid options: angle, n_per_class, n_test_per_class, noise, standardize"
    )
    with pytest.raises(InvalidOptionError, match="backbone 'auto'; valid options: \\(it takes no options\\)"):
        registry.build("backbone", "auto", {"width": 3}, input_shape=(1, 28, 28))


def test_bad_option_value_names_the_option_and_type():
    registry = get_registry(get_plugin_manager(autoload=False))
    with pytest.raises(InvalidOptionError, match="^dataset 'moons' option 'angle' expects a float, got 'steep'$"):
        registry.build("dataset", "moons", {"angle": "steep"}, seed=0)


def test_option_cannot_shadow_a_context_argument():
    registry = get_registry(get_plugin_manager(autoload=False))
    moons = registry.datasets["moons"].factory
    registry.datasets["f"] = ComponentSpec("f", lambda seed, size=1: (size, moons(seed=seed))[1], "", {"size": 1, "seed": 0})
    with pytest.raises(InvalidOptionError, match="option 'seed' collides with a context argument"):
        registry.build("dataset", "f", {"seed": 3}, seed=0)
    assert len(registry.build("dataset", "f", {"size": "4"}, seed=0).source_train) > 0


@pytest.mark.parametrize(
    ("value", "default", "expected"),
    [
        ("true", False, True),
        ("No", True, False),
        ("1", False, True),
        (0, True, False),
        ("12", 3, 12),
        (4.0, 3, 4),
        ("0.25", 1.0, 0.25),
        (2, 1.0, 2.0),
        ("abc", "x", "abc"),
        (5, "x", "5"),
        ("1024,1024", (100,), (1024, 1024)),
        ("", (100,), ()),
        (64, (100,), (64,)),
        ([1, "2"], (100,), (1, 2)),
        ("a, b", ["x"], ["a", "b"]),
        ("1,2.5,z", (), (1, 2.5, "z")),
        ("7", None, 7),
        ("0.5", None, 0.5),
        ("/data/w.pt", None, "/data/w.pt"),
        ("none", None, None),
        (3, None, 3),
    ],
)
def test_coerce_option_follows_the_default_type(value, default, expected):
    result = coerce_option(value, default)
    assert result == expected and type(result) is type(expected)


@pytest.mark.parametrize(
    ("value", "default"),
    [("maybe", True), (2, False), ("1.5", 3), (2.5, 3), (True, 3), ("x", 1.0), ("1,x", (1,))],
)
def test_coerce_option_rejects_values_of_the_wrong_type(value, default):
    with pytest.raises(InvalidOptionError, match="^opt expects"):
        coerce_option(value, default, where="opt")


def test_from_factory_reads_options_and_description_from_the_factory():
    def factory(input_shape, width: int = 3, *, act: str = "relu"):
        """First line.

        More.
        """

    spec = ComponentSpec.from_factory("thing", factory)
    assert spec.options == {"width": 3, "act": "relu"} and spec.description == "First line."


# -------------------------------------------------------------------------------------- listing


def test_plugin_listing_and_its_text(test_plugin):
    pm = get_plugin_manager(autoload=False)
    pm.register(test_plugin("dann_testplugin_blobs"), name="blobs")
    listing = {row["name"]: row for row in plugin_listing(pm, command_group=lambda: build_cli(load_plugins=False))}
    bare = {row["name"]: row for row in plugin_listing(pm)}  # without a CLI to add them to, commands are not listed
    assert bare["blobs"]["provides"] == {"datasets": ["test-blobs"]}
    assert listing["blobs"] == {
        "name": "blobs",
        "distribution": None,
        "version": None,
        "hooks": ["register_commands", "register_datasets"],
        "provides": {"datasets": ["test-blobs"], "commands": ["blobs-hello"]},
    }
    assert listing["datasets"]["distribution"] == "dann" and listing["datasets"]["version"]
    assert "moons" in listing["datasets"]["provides"]["datasets"]
    text = format_listing(list(listing.values()))
    assert "blobs (registered directly)\n  hooks: register_commands, register_datasets\n  datasets: test-blobs" in text
    assert "  discriminators: mlp" in text and "  methods: adda, afn, bsp, cdan, dan, dann, jan, mcc, mcd, mdd, source-only, target-oracle" in text


def test_describe_is_json_ready_and_shows_options():
    registry = get_registry(get_plugin_manager(autoload=False))
    described = json.loads(json.dumps(registry.describe()))
    discriminators = {entry["name"]: entry for entry in described["components"]["discriminators"]}
    assert discriminators["mlp"]["options"] == {"hidden": [100], "dropout": 0.0}
    assert "Options:" in discriminators["mlp"]["doc"]
    text = format_listing(described["plugins"], described["components"])
    assert "  moons - " in text and "      angle = 35.0" in text and "      hidden = 100" in text


def test_every_builtin_documents_each_option():
    from dann_core.methods import REGULARIZERS

    registry = get_registry(get_plugin_manager(autoload=False))
    for kind in ("dataset", "backbone", "discriminator", "method"):
        for name, spec in registry.of_kind(kind).items():
            doc = inspect.getdoc(spec.factory) or ""
            for option in spec.options:
                prefix = option.split("_")[0]
                if kind == "method" and prefix in REGULARIZERS:  # a regulariser's option (NAME_OPTION): documented by it
                    option, doc = option[len(prefix) + 1:], inspect.getdoc(REGULARIZERS[prefix].factory) or ""
                assert f"{option}:" in doc, f"{kind} '{name}' does not document option '{option}'"


def test_misspelt_hook_is_reported_with_the_right_name(fake_distribution):
    source = FAKE_PLUGIN_SOURCE.replace("def register_datasets", "def register_dataset")
    fake_distribution({"typo": "fake_typo_module"}, {"fake_typo_module": source})
    with pytest.warns(PluginWarning):
        pm = get_plugin_manager(autoload=True)
    assert pm.broken["typo"].error == (
        "implements unknown hook 'register_dataset'; did you mean 'register_datasets'? "
        "hooks: register_backbones, register_commands, register_datasets, register_discriminators, "
        "register_launchers, register_loggers, register_methods, register_selectors"
    )
    assert "typo" not in dict(pm.list_name_plugin())


# ------------------------------------------------------------------------------------- layering


LOWER_LAYERS = {  # module or package → the dann_core modules it may import besides its own; bottom first
    "options": set(),
    "data": set(),
    "files": set(),
    "references": set(),
    "specs": {"options", "data", "references"},
    "loggers": set(),
    "hookspecs": {"specs"},
    "plugins": {"", "options", "data", "specs", "hookspecs"},  # "": the package root (version, hookimpl)
    "config": {"options", "plugins", "loggers", "files"},
}


def _imported_modules(path: Path, package: str) -> set[str]:
    """The dann_core modules (relative to it, "" for the root) that ``path`` imports, inside functions too."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            parts = package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
            head = ".".join(parts + ([node.module] if node.module else []))
            # `from .. import files` imports the module dann_core.files; `from .. import hookimpl` the root
            found |= {head} if node.module else {f"{head}.{alias.name}" for alias in node.names}
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
    modules = {path.stem for path in (ROOT / "dann_core").iterdir()}
    relative = {name.removeprefix("dann_core").lstrip(".") for name in found if name.split(".")[0] == "dann_core"}
    return {name if name.split(".")[0] in modules else "" for name in relative}  # a name of the root: ""


def test_lower_layers_import_only_downward():
    """options/data < specs < hookspecs < plugins < config: none imports a layer above it (issue 17)."""
    root = ROOT / "dann_core"
    for layer, allowed in LOWER_LAYERS.items():
        paths = sorted((root / layer).rglob("*.py")) if (root / layer).is_dir() else [root / f"{layer}.py"]
        for path in paths:
            package = ".".join(["dann_core", *path.relative_to(root).parent.parts])
            for target in _imported_modules(path, package):
                top = target.split(".")[0]
                assert top == layer or top in allowed, f"{path.relative_to(root)} imports dann_core.{target}, above its layer"


def test_a_description_is_the_docstrings_first_sentence_even_when_wrapped():
    def factory(seed: int):
        """Two Gaussian blobs per domain, the target
        shifted by `shift`, e.g. rotated. More detail here.

        Options: none."""

    assert ComponentSpec.from_factory("blobs", factory).description == (
        "Two Gaussian blobs per domain, the target shifted by `shift`, e.g. rotated.")


def test_config_json_records_which_loggers_ran(tmp_path, tiny_config):
    import dataclasses
    import json

    from dann_core.train import train

    train(dataclasses.replace(tiny_config, log="csv"), tmp_path / "run")
    loggers = json.loads((tmp_path / "run" / "config.json").read_text())["provenance"]["loggers"]
    assert [(entry["name"], entry["plugin"]) for entry in loggers] == [("jsonl", "loggers"), ("csv", "loggers")]
