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
        (["method=dan"], "did you mean 'dann'?"),
        (["steps=1.5"], "bad value 1.5 for 'steps'"),
        (["steps=0"], "steps must be at least 1"),
        (["lr=nan"], "bad value 'nan' for 'lr': expected a finite float"),
        (["lr=1e9"], "lr must be a number in (0, 10]"),
        (["seed=99999999999999999999"], "seed must be an integer in [0, 4294967295]"),
        (["momentum=1"], "momentum must be a number in [0, 1)"),
        (["method.lambda=fast", "method=source-only"], "unknown option 'lambda' for algorithm 'source-only'"),
        (["lr"], "--set expects KEY=VALUE"),
    ],
)
def test_bad_settings_give_one_line_errors(sets, fragment):
    from dann_core.plugins import get_registry

    with pytest.raises(ConfigError) as info:
        config.resolve(sets=sets, registry=get_registry())
    assert fragment in str(info.value)
    assert "\n" not in str(info.value)


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
