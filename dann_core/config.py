"""Every setting of a training run, declared once.

:class:`RunConfig` is the single declaration: each field carries its default and help text, and the
CLI generates its ``dann run`` options from it. A config is resolved in layers, each overriding the
one before::

    defaults  <  --config FILE (.toml / .yaml / .json)  <  --set key=value  <  explicit flags

Keys are the field names, except ``lambda`` (the field ``lambda_``). Component options live in the
tables ``dataset_options``, ``backbone_options`` and ``discriminator_options``; ``--set
dataset.angle=50`` is short for ``--set dataset_options.angle=50``. Option names of components are
checked when the component is built (they belong to the plugin), settings here at once.
"""
from __future__ import annotations

import dataclasses
import difflib
import json
import os
import tomllib
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

METHODS = ("dann", "source-only", "target-oracle")
KERNELS = ("auto", "ext", "reference")
COMPONENTS = ("dataset", "backbone", "discriminator")


class ConfigError(ValueError):
    """A setting that does not exist or has a bad value; the message is one line naming it."""


def setting(default: Any, help: str, choices: tuple[str, ...] | None = None) -> Any:
    """Declare a RunConfig field: its default, its help text and, for strings, the allowed values."""
    metadata = {"help": help, "choices": choices}
    if isinstance(default, dict):
        return field(default_factory=dict, metadata=metadata)
    return field(default=default, metadata=metadata)


@dataclass
class RunConfig:
    """One training run. Defaults train the JMLR toy DANN on two moons (15 sigmoid units, constant λ = 6)
    in seconds; for digits and images pass ``--lambda schedule`` and that setting's lr and steps."""

    dataset: str = setting("moons", "dataset plugin name")
    backbone: str = setting("mlp", "feature-extractor (backbone) plugin name")
    discriminator: str = setting("mlp", "domain-discriminator plugin name")
    method: str = setting("dann", "dann, source-only (no adaptation) or target-oracle (labelled target)", METHODS)
    steps: int = setting(3000, "number of SGD steps")
    batch_size: int = setting(64, "examples per domain per step (the step sees twice this for dann)")
    lr: float = setting(0.1, "initial learning rate μ0")
    lr_schedule: bool = setting(True, "anneal the learning rate as μ0 / (1 + 10p)^0.75 (the paper)")
    momentum: float = setting(0.9, "SGD momentum")
    weight_decay: float = setting(0.0, "SGD weight decay")
    lambda_: str | float = setting(6.0, "GRL factor λ: a number (6: the moons toy) or 'schedule', the paper's ramp 2/(1+exp(-γp))-1 for digits and images")
    gamma: float = setting(10.0, "γ of the λ schedule")
    seed: int = setting(0, "seed of data generation, initialisation and batch sampling")
    eval_every: int = setting(100, "steps between evaluations, checkpoints and metrics.jsonl lines")
    device: str = setting("auto", "torch device: auto (CUDA when present), cpu, cuda, cuda:1, ...")
    threads: int = setting(1, "CPU threads of torch (0: torch's default); small models run fastest on 1")
    kernels: str = setting("auto", "ops backend: auto (compiled when built), ext (require it) or reference", KERNELS)
    out: str | None = setting(None, "run directory (default: runs/<dataset>-<method>-s<seed>-<time>)")
    dataset_options: dict = setting({}, "options of the dataset plugin (--set dataset.NAME=VALUE)")
    backbone_options: dict = setting({}, "options of the backbone plugin (--set backbone.NAME=VALUE)")
    discriminator_options: dict = setting({}, "options of the discriminator plugin (--set discriminator.NAME=VALUE)")

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            setattr(self, f.name, coerce(f, getattr(self, f.name)))
        if self.threads < 0:
            raise ConfigError(f"threads must be 0 (torch's default) or more, got {self.threads}")
        for name in ("steps", "batch_size", "eval_every"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.lr <= 0:
            raise ConfigError(f"lr must be positive, got {self.lr}")

    def to_dict(self) -> dict[str, Any]:
        """The config as written to config.json (keys as in config files)."""
        return {key_of(f): _copy(getattr(self, f.name)) for f in dataclasses.fields(self)}

    @classmethod
    def from_dict(cls, values: dict[str, Any], source: str = "config") -> "RunConfig":
        """Build from a mapping of config keys (such as config.json), rejecting unknown keys."""
        merged = apply_layer(RunConfig().to_dict(), values, source)
        return cls(**{f.name: merged[key_of(f)] for f in dataclasses.fields(cls)})


def key_of(f: dataclasses.Field) -> str:
    """The config key of a field: its name without a trailing underscore (``lambda_`` → ``lambda``)."""
    return f.name.rstrip("_")


FIELDS = {key_of(f): f for f in dataclasses.fields(RunConfig)}
_TYPES = typing.get_type_hints(RunConfig)


def _copy(value: Any) -> Any:
    return dict(value) if isinstance(value, dict) else value


def _closest(word: str, choices) -> str:
    match = difflib.get_close_matches(word, list(choices), n=1)
    return f"did you mean '{match[0]}'? " if match else ""


def coerce(f: dataclasses.Field, value: Any) -> Any:
    """Convert ``value`` (possibly a string from ``--set``) to the field's type, or raise ConfigError."""
    key, kind = key_of(f), _TYPES[f.name]
    try:
        if key == "lambda":
            return _lambda_value(value)
        if value is None and f.default is None:
            return None
        if kind is bool:
            return _bool_value(value)
        if kind is int:
            return _int_value(value)
        if kind is float:
            return _float_value(value)
        if kind is dict:
            if not isinstance(value, dict):
                raise ValueError("expected a table of option names to values")
            return dict(value)
        if not isinstance(value, str):
            raise ValueError("expected a string")
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"bad value {value!r} for '{key}': {exc}") from None
    choices = f.metadata.get("choices")
    if choices and value not in choices:
        raise ConfigError(f"bad value {value!r} for '{key}': {_closest(value, choices)}choose from {', '.join(choices)}")
    return value


def _lambda_value(value: Any) -> str | float:
    if value == "schedule":
        return value
    if isinstance(value, bool):
        raise ValueError("expected 'schedule' or a number")
    number = float(value)
    if not number >= 0:
        raise ValueError("λ must be 'schedule' or a number ≥ 0")
    return number


def _bool_value(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "yes", "on", "1"):
        return True
    if text in ("false", "no", "off", "0"):
        return False
    raise ValueError("expected true or false")


def _int_value(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError("expected an integer")
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError("expected an integer")
        return int(value)
    if isinstance(value, str):
        number = float(value)
        if not number.is_integer():
            raise ValueError("expected an integer")
        return int(number)
    return int(value)


def _float_value(value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError("expected a number")
    return float(value)


def split_key(key: str, source: str) -> tuple[str, str | None]:
    """``'lr'`` → ('lr', None); ``'dataset.angle'`` / ``'dataset_options.angle'`` → ('dataset_options', 'angle')."""
    head, dot, option = key.partition(".")
    if dot:
        table = head if head.endswith("_options") else f"{head}_options"
        if table in FIELDS and option:
            return table, option
        tables = [f"{c}.<option>" for c in COMPONENTS]
        raise ConfigError(f"unknown setting '{key}' ({source}): {_closest(head, COMPONENTS)}dotted keys are {', '.join(tables)}")
    if key not in FIELDS:
        raise ConfigError(f"unknown setting '{key}' ({source}): {_closest(key, FIELDS)}valid settings: {', '.join(FIELDS)}")
    return key, None


def apply_layer(values: dict[str, Any], updates: dict[str, Any], source: str) -> dict[str, Any]:
    """A copy of ``values`` (config keys) with ``updates`` applied; option tables merge key by key."""
    result = {k: _copy(v) for k, v in values.items()}
    for key, value in updates.items():
        name, option = split_key(str(key), source)
        if option is not None:
            result[name][option] = value
        elif name.endswith("_options"):
            if not isinstance(value, dict):
                raise ConfigError(f"bad value {value!r} for '{name}' ({source}): expected a table of options")
            result[name].update(value)
        else:
            result[name] = coerce(FIELDS[name], value)
    return result


def parse_set(assignment: str) -> tuple[str, Any]:
    """``'dataset.angle=50'`` → ('dataset.angle', 50): the value is read as a YAML scalar."""
    key, eq, text = assignment.partition("=")
    if not eq or not key.strip():
        raise ConfigError(f"--set expects KEY=VALUE, got {assignment!r}")
    try:
        value = yaml.safe_load(text) if text.strip() else ""
    except yaml.YAMLError:
        value = text
    if isinstance(value, str):
        try:  # YAML 1.1 reads 1e-3 as a string
            value = float(value) if value.strip().lower() not in ("nan", "inf", "-inf", "infinity") else value
        except ValueError:
            pass
    return key.strip(), value


def load_file(path: str | Path) -> dict[str, Any]:
    """Read a config file: ``.toml`` (tomllib), ``.yaml`` / ``.yml`` or ``.json``; a mapping of config keys."""
    path = Path(path)
    suffix = path.suffix.lower()
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror or exc}") from None
    try:
        if suffix == ".toml":
            data = tomllib.loads(text)
        elif suffix in (".yaml", ".yml"):
            data = yaml.safe_load(text) or {}
        elif suffix == ".json":
            data = json.loads(text)
        else:
            raise ConfigError(f"config file {path} must end in .toml, .yaml, .yml or .json")
    except (tomllib.TOMLDecodeError, yaml.YAMLError, json.JSONDecodeError) as exc:
        first_line = str(exc).splitlines()[0]
        raise ConfigError(f"cannot parse config file {path}: {first_line}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a mapping of settings, got {type(data).__name__}")
    return data


def resolve(
    file: str | Path | None = None,
    sets: typing.Iterable[str] = (),
    flags: dict[str, Any] | None = None,
) -> RunConfig:
    """Resolve a run's config: defaults < ``file`` < ``sets`` (``KEY=VALUE``) < ``flags`` (explicit options)."""
    values = RunConfig().to_dict()
    if file is not None:
        values = apply_layer(values, load_file(file), f"in {file}")
    values = apply_layer(values, dict(parse_set(s) for s in sets), "in --set")
    values = apply_layer(values, dict(flags or {}), "from the command line")
    return RunConfig.from_dict(values)


def write_json(data: Any, path: str | Path) -> None:
    """Write ``data`` as indented JSON, replacing ``path`` atomically (temp file + rename)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    os.replace(tmp, path)


def read_json(path: str | Path) -> Any:
    return json.loads(Path(path).read_text())


def save(config: RunConfig, path: str | Path) -> None:
    """Write the resolved config as JSON (the run directory's config.json)."""
    write_json(config.to_dict(), path)


def load(path: str | Path) -> RunConfig:
    """Read a config.json written by :func:`save`."""
    return RunConfig.from_dict(load_file(path), f"in {path}")
