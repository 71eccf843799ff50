import json

import pytest

from dann_core import config
from dann_core.config import ConfigError, RunConfig


def test_every_setting_has_help_text():
    assert all(f.metadata["help"] for f in config.FIELDS.values())


def test_defaults_round_trip_through_json_and_provenance_is_set_aside(tmp_path):
    cfg = RunConfig(dataset_options={"angle": 30}, method_options={"lambda": "schedule"})
    config.save(cfg, tmp_path / "config.json", provenance={"components": {"dataset": {"name": "moons"}}})
    assert json.loads((tmp_path / "config.json").read_text())["method_options"] == {"lambda": "schedule"}
    assert config.load(tmp_path / "config.json") == cfg
    assert config.load_provenance(tmp_path / "config.json") == {"components": {"dataset": {"name": "moons"}}}


@pytest.mark.parametrize("suffix", [".toml", ".yaml", ".json"])
def test_precedence_defaults_file_set_flags(tmp_path, suffix):
    body = {
        ".toml": 'lr = 0.2\nsteps = 7\nseed = 3\n[dataset_options]\nangle = 10\nnoise = 0.1\n',
        ".yaml": "lr: 0.2\nsteps: 7\nseed: 3\ndataset_options: {angle: 10, noise: 0.1}\n",
        ".json": '{"lr": 0.2, "steps": 7, "seed": 3, "dataset_options": {"angle": 10, "noise": 0.1}}',
    }[suffix]
    path = tmp_path / f"run{suffix}"
    path.write_text(body)
    cfg = config.resolve(path, sets=["steps=9", "lr=0.3", "dataset.angle=50"], flags={"lr": 0.4}, recommend=False)
    assert cfg.seed == 3  # file over default
    assert cfg.steps == 9  # --set over file
    assert cfg.lr == 0.4  # flag over --set over file
    assert cfg.dataset_options == {"angle": 50, "noise": 0.1}  # option tables merge key by key
    assert cfg.batch_size == RunConfig().batch_size  # untouched default


def test_set_values_are_typed_and_lambda_gamma_are_method_shortcuts():
    cfg = config.resolve(sets=["lambda=0.5", "gamma=5", "lr_schedule=yes", "lr=1e-3", "backbone.width=15", "out=runs/x"])
    assert cfg.method_options == {"lambda": 0.5, "gamma": 5} and cfg.lr_schedule is True and cfg.lr == 0.001 and cfg.out == "runs/x"
    assert cfg.backbone_options == {"width": 15}
    assert config.resolve(sets=["method.lambda=schedule"]).method_options == {"lambda": "schedule"}


@pytest.mark.parametrize(
    "sets, fragment",
    [
        (["lr_shedule=false"], "unknown setting 'lr_shedule' (in --set): did you mean 'lr_schedule'?"),
        (["datset.angle=3"], "did you mean 'dataset'?"),
        (["method=dnn"], "did you mean 'dann'?"),
        (["steps=1.5"], "bad value 1.5 for 'steps'"),
        (["steps=0"], "steps must be at least 1"),
        (["lr=nan"], "bad value 'nan' for 'lr': expected a finite float"),
        (["lr=1e9"], "lr must be a number in (0, 10]"),
        (["seed=99999999999999999999"], "seed must be an integer in [0, 4294967295]"),
        (["momentum=1"], "momentum must be a number in [0, 1)"),
        (["method.lambda=fast", "method=source-only"], "unknown option 'lambda' for method 'source-only'"),
        (["lr"], "--set expects KEY=VALUE"),
        # upper bounds (issue 22): each of these used to crash, hang or allocate without bound
        (["threads=100000"], "threads must be at most 1024, got 100000"),
        (["threads=-1"], "threads must be 0 (auto) or more, got -1"),
        (["steps=1e10"], "steps must be at most 1000000000, got 10000000000"),
        (["eval_every=1e10"], "eval_every must be at most 1000000000"),
        (["batch_size=1e9"], "batch_size must be at most 1048576, got 1000000000"),
        (["keep_candidates=100000"], "keep_candidates must be at most 1000"),
        (["bottleneck=1e9"], "bottleneck must be at most 16384, got 1000000000"),
        (["lambda=1e308"], "method.lambda must be a finite number of magnitude at most 1000, got 1e+308"),
        (["method.lambda=-5000"], "method.lambda must be a finite number of magnitude at most 1000"),
        (["gamma=1e308"], "method.gamma must be a finite number of magnitude at most 1000"),
        (["method=" + "y" * 5000], "unknown method 'yyyy"),
        (["dataset.angle=" + "x" * 5000], "dataset 'moons' option 'angle' expects a float, got 'xxx"),
    ],
)
def test_bad_settings_give_one_line_errors(sets, fragment):
    from dann_core.plugins import get_registry

    with pytest.raises(ConfigError) as info:
        config.resolve(sets=sets, registry=get_registry())
    assert fragment in str(info.value)
    assert "\n" not in str(info.value) and len(str(info.value)) <= 400


def test_unknown_key_in_file_names_the_file(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("batchsize: 3\n")
    with pytest.raises(ConfigError, match=r"unknown setting 'batchsize' \(in .*c.yaml\): did you mean 'batch_size'"):
        config.resolve(path)


def test_missing_or_unparsable_file(tmp_path):
    with pytest.raises(ConfigError, match="cannot read config file"):
        config.resolve(tmp_path / "absent.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("lr = = 1\n")
    with pytest.raises(ConfigError, match="cannot parse config file"):
        config.resolve(bad)
    (tmp_path / "c.ini").write_text("")
    with pytest.raises(ConfigError, match="must end in .toml"):
        config.resolve(tmp_path / "c.ini")


def test_recommendations_sit_between_defaults_and_the_user():
    from dann_core.plugins import get_registry

    registry = get_registry()
    digits = config.resolve(flags={"dataset": "digits-blend"}, registry=registry)
    assert (digits.backbone, digits.lr, digits.steps, digits.method_options) == ("lenet", 0.03, 3000, {"lambda": "schedule"})
    assert digits.recommended["backbone"] == {"value": "lenet", "from": "dataset digits-blend"}
    mine = config.resolve(sets=["lr=0.05"], flags={"dataset": "digits-blend", "lambda": 0.3}, registry=registry)
    assert mine.lr == 0.05 and mine.method_options == {"lambda": 0.3} and "lr" not in mine.recommended
    baseline = config.resolve(flags={"dataset": "moons", "method": "source-only"}, registry=registry)
    assert baseline.method_options == {} and baseline.lr == 0.1  # λ recommended only to methods that take it
    assert config.resolve(flags={"dataset": "moons"}, recommend=False).lr == RunConfig().lr


def test_a_recommended_backbone_brings_its_own_recommendations():
    """digits-blend recommends lenet, and lenet recommends channels-last: the chain applies, the
    provenance names the backbone, and the user's flag wins."""
    digits = config.resolve(flags={"dataset": "digits-blend"})
    assert digits.channels_last is True and digits.recommended["channels_last"] == {"value": True, "from": "backbone lenet"}
    assert config.resolve(flags={"dataset": "digits-blend", "channels_last": False}).channels_last is False
    assert config.resolve(flags={"dataset": "moons"}).channels_last is False  # the toy MLP: no images


def test_bounds_sit_at_the_named_limits():
    """The largest accepted values are the documented maxima; lambda given as YAML 1.1 text is bounded too."""
    cfg = RunConfig(threads=config.MAX_THREADS, steps=config.MAX_STEPS, eval_every=config.MAX_STEPS,
                    batch_size=config.MAX_BATCH_SIZE, keep_candidates=config.MAX_KEEP_CANDIDATES,
                    bottleneck=config.MAX_BOTTLENECK, method_options={"lambda": "1e3", "gamma": 1000.0})
    assert cfg.threads == 1024 and cfg.bottleneck == 16384
    assert RunConfig(method_options={"lambda": "schedule"}).method_options == {"lambda": "schedule"}
    with pytest.raises(ConfigError, match=r"^method.lambda must be a finite number of magnitude at most 1000, got '1e308'$"):
        RunConfig(method_options={"lambda": "1e308"})


# ---------------------------------------------------------------- hostile files and --set values


BOMB = "\n".join(
    ["a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    + [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 9)]
    + ["dataset_options: {x: *a8}"]
)
"""A "billion laughs" YAML: 9 levels of 9 aliases, ~0.5 KB that would expand to 9^9 strings."""


@pytest.mark.parametrize(
    ("name", "body", "fragment"),
    [
        ("bomb.yaml", BOMB, "YAML whose aliases expand to more than 100000 values"),
        ("aliases.yaml", "x: &x 1\ndataset_options: {y: [" + ", ".join(["*x"] * 101) + "]}\n", "YAML with more than 100 aliases (*name) is refused"),
        ("doubling.yaml", "\n".join(["b0: &b0 [x, x]"] + [f"b{i}: &b{i} [*b{i - 1}, *b{i - 1}]" for i in range(1, 40)]),
         "aliases expand to more than 100000 values"),
        ("self.yaml", "dataset_options: &r {x: *r}\n", "aliases expand to more than 100000 values (or into themselves)"),
        ("deep.yaml", "steps: " + "[" * 20000 + "]" * 20000, "nested too deeply"),
        ("deep.json", '{"steps": ' + "[" * 200000 + "]" * 200000 + "}", "nested too deeply"),
        ("big.toml", "# padding\n" * 120000, "is larger than 1024 KiB"),
        ("lambda.yaml", "lambda: 1e308\n", "method.lambda must be a finite number of magnitude at most 1000, got '1e308'"),
    ],
)
def test_hostile_config_files_are_refused_in_one_short_line(tmp_path, name, body, fragment):
    path = tmp_path / name
    path.write_text(body)
    with pytest.raises(ConfigError) as info:
        config.resolve(path, recommend=False)
    message = str(info.value)
    assert fragment in message and "\n" not in message and len(message) <= 400


def test_non_utf8_config_file_is_one_line(tmp_path):
    (tmp_path / "latin1.toml").write_bytes(b"steps = 3 # caf\xe9\n")
    with pytest.raises(ConfigError, match=r"latin1.toml is not UTF-8 text \(byte 15\)$"):
        config.resolve(tmp_path / "latin1.toml", recommend=False)


def test_alias_bomb_in_set_is_refused_and_a_few_aliases_still_work():
    bomb = "{" + ", ".join(line for line in BOMB.splitlines()[:-1]) + "}"
    with pytest.raises(ConfigError, match=r"^--set 'dataset.x': YAML whose aliases expand to more than 100000 values"):
        config.parse_set(f"dataset.x={bomb}")
    assert config.parse_set("dataset.x={a: &a [1, 2], b: *a}") == ("dataset.x", {"a": [1, 2], "b": [1, 2]})
    with pytest.raises(ConfigError, match="value is longer than"):
        config.parse_set("dataset.x=" + "1" * (config.sources.MAX_CONFIG_BYTES + 1))


# ------------------------------------------------------------- a component table's options are the user's


@pytest.mark.parametrize(
    ("name", "body"),
    [
        ("run.toml", "steps = 20\n[method]\nlambda = 1.0\n"),
        ("run.yaml", "steps: 20\nmethod: {lambda: 1.0}\n"),
        ("run.json", '{"steps": 20, "method_options": {"lambda": 1.0}}'),
    ],
)
def test_table_option_is_applied_reported_as_the_users_and_the_recommendation_as_overridden(tmp_path, name, body):
    """Issue 22 item 10: moons recommends method.lambda=6.0; a [method] table's lambda = 1.0 ran, but
    the start line and provenance said the recommendation applied."""
    from dann_core.plugins import get_registry

    path = tmp_path / name
    path.write_text(body)
    cfg = config.resolve(path, registry=get_registry())
    assert cfg.method_options == {"lambda": 1.0}
    assert "method.lambda" not in cfg.recommended and cfg.recommended["lr"] == {"value": 0.1, "from": "dataset moons"}
    assert cfg.overridden == {"method.lambda": {"value": 6.0, "from": "dataset moons", "set": 1.0, "by": f"in {path}"}}
    config.save(cfg, tmp_path / "config.json", provenance={"recommended": cfg.recommended})
    assert config.load_provenance(tmp_path / "config.json")["overridden"]["method.lambda"]["set"] == 1.0
    assert config.load(tmp_path / "config.json").method_options == {"lambda": 1.0}


def test_overridden_lists_flags_and_sets_too():
    from dann_core.plugins import get_registry

    cfg = config.resolve(sets=["lr=0.05"], flags={"dataset": "digits-blend", "backbone": "mlp"}, registry=get_registry())
    assert cfg.overridden["lr"] == {"value": 0.03, "from": "dataset digits-blend", "set": 0.05, "by": "in --set"}
    assert cfg.overridden["backbone"] == {"value": "lenet", "from": "dataset digits-blend", "set": "mlp", "by": "from the command line"}
    assert "lr" not in cfg.recommended and "backbone" not in cfg.recommended
    assert config.resolve(flags={"dataset": "moons"}, recommend=False).overridden == {}
