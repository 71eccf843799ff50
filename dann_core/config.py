"""Every setting of a training run, declared once.

:class:`RunConfig` is the single declaration: each field carries its default and help text, and the
CLI generates its ``dann run`` options from it. A config is resolved in layers, each overriding the
one before::

    defaults  <  recommendations of the chosen components  <  --config FILE  <  --set key=value  <  explicit flags

Keys are the field names. Component options live in the tables ``dataset_options``,
``backbone_options``, ``discriminator_options``, ``method_options`` and ``select_options``;
``--set dataset.angle=50`` is short for ``--set dataset_options.angle=50``, and the keys ``lambda``
and ``gamma`` are shortcuts for ``method.lambda`` and ``method.gamma``. A config file may instead
give a component as a table: ``[dataset]`` with ``name = "moons"`` (the component; ``name`` is
reserved there) and its options (``angle = 20``). Option names of components are checked when the
config is resolved (they belong to the plugin), settings here at once. YAML (files and ``--set``)
reads only true/false as booleans: yes/no/on/off stay text, so a string option keeps them as
written and a boolean setting still accepts them. Path options of components (annotated
``pathlib.Path``) are recorded as absolute paths, relative to the current directory.
"""
from __future__ import annotations

import dataclasses
import difflib
import json
import math
import re
import tomllib
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from . import files
from .plugins.kinds import CONFIG_KINDS

KERNELS = ("auto", "ext", "reference")
PRECISIONS = ("fp32", "bf16", "fp16")
COMPONENT_KINDS = dict(CONFIG_KINDS)
"""Config key → registry kind of each component a run is built from (the table in :mod:`dann_core.plugins.kinds`)."""
COMPONENTS = tuple(COMPONENT_KINDS)
"""Prefixes of dotted keys (``method.lambda``); ``method`` names an algorithm plugin, ``select`` a selector."""
SHORTCUTS = {"lambda": "method.lambda", "gamma": "method.gamma"}
"""Top-level keys that stand for a method option (``--lambda``, ``--gamma``)."""


MAX_SEED = 2**32 - 1
MAX_LR = 10.0
NUMBER_RANGES = {
    "lr": (lambda v: v > 0, lambda v: v <= MAX_LR, f"a number in (0, {MAX_LR:g}]"),
    "momentum": (lambda v: v >= 0, lambda v: v < 1, "a number in [0, 1)"),
    "weight_decay": (lambda v: v >= 0, lambda v: True, "a finite number ≥ 0"),
    "backbone_lr_mult": (lambda v: v > 0, lambda v: True, "a finite number > 0"),
    "seed": (lambda v: v >= 0, lambda v: v <= MAX_SEED, f"an integer in [0, {MAX_SEED}]"),
}
"""Numeric settings with a valid range: (lower check, upper check, the range in words)."""


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
    """One training run. Defaults are the paper's (SGD, μ0 = 0.01 annealed, λ ramp); the chosen
    components' recommendations adjust them (two moons: its JMLR toy recipe; digits-blend: LeNet)."""

    dataset: str = setting("moons", "dataset plugin name")
    backbone: str = setting("mlp", "feature-extractor (backbone) plugin name")
    discriminator: str = setting("mlp", "domain-discriminator plugin name")
    method: str = setting("dann", "training method (algorithm plugin): dann, cdan, source-only, target-oracle, ...")
    steps: int = setting(3000, "number of SGD steps")
    batch_size: int = setting(64, "examples per domain per step (the step sees twice this for dann)")
    lr: float = setting(0.01, "initial learning rate μ0")
    lr_schedule: bool = setting(True, "anneal the learning rate as μ0 / (1 + 10p)^0.75 (the paper)")
    momentum: float = setting(0.9, "SGD momentum")
    weight_decay: float = setting(0.0, "SGD weight decay")
    backbone_lr_mult: float = setting(1.0, "learning-rate multiplier of the backbone's pretrained parameters (resnet with weights); 0.1 fine-tunes them at a tenth of the new layers' rate, as in the paper's Office recipe")
    bottleneck: int = setting(0, "width of a Linear → BatchNorm → ReLU bottleneck between the backbone and both heads (0: none; 256 in the Office recipes)")
    seed: int = setting(0, "seed of data generation, initialisation and batch sampling")
    eval_every: int = setting(100, "steps between evaluations, checkpoints and metrics.jsonl lines")
    select: str = setting("last", "selector (plugin) that picks best.pt among the evaluated checkpoints, never with target labels: last, source-val, dev, entropy, snd, reverse-val, ...")
    keep_candidates: int = setting(2, "candidate checkpoints kept per selector (plus the last) for dann eval select")
    device: str = setting("auto", "torch device: auto (CUDA when present), cpu, cuda, cuda:1, ...")
    threads: int = setting(0, "CPU threads of torch; 0 (auto): 1 for a tiny step (the toy MLP), else the idle physical cores "
                           "this process may use (its share under --nproc); config.json records the number used (dann_core/train/threads.py)")
    kernels: str = setting("auto", "ops backend: auto (compiled when built), ext (require it) or reference", KERNELS)
    precision: str = setting("fp32", "autocast of the training forward: fp32 (none), bf16, or fp16 (CUDA only, with loss scaling)", PRECISIONS)
    compile: bool = setting(False, "torch.compile the model's modules (backbone, classifier, discriminator); warns and runs eagerly where compile is unavailable")
    out: str | None = setting(None, "run directory (default: runs/<dataset>-<method>-s<seed>-<time>)")
    dataset_options: dict = setting({}, "options of the dataset plugin (--set dataset.NAME=VALUE)")
    backbone_options: dict = setting({}, "options of the backbone plugin (--set backbone.NAME=VALUE)")
    discriminator_options: dict = setting({}, "options of the discriminator plugin (--set discriminator.NAME=VALUE)")
    method_options: dict = setting({}, "options of the method (--set method.NAME=VALUE; --lambda, --gamma)")
    log: str = setting("", "loggers besides metrics.jsonl (always on), comma-separated: csv, tensorboard, or a plugin's")
    select_options: dict = setting({}, "options of the selector (--set select.NAME=VALUE)")

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            setattr(self, f.name, coerce(f, getattr(self, f.name)))
        if self.threads < 0:
            raise ConfigError(f"threads must be 0 (auto) or more, got {self.threads}")
        if self.bottleneck < 0:
            raise ConfigError(f"bottleneck must be 0 (none) or a positive width, got {self.bottleneck}")
        if self.keep_candidates < 0:
            raise ConfigError(f"keep_candidates must be 0 or more, got {self.keep_candidates}")
        for name in ("steps", "batch_size", "eval_every"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1, got {getattr(self, name)}")
        for name, (low, high, text) in NUMBER_RANGES.items():
            value = getattr(self, name)
            if not (math.isfinite(value) and low(value) and high(value)):
                raise ConfigError(f"{name} must be {text}, got {value}")

    def to_dict(self) -> dict[str, Any]:
        """The config as written to config.json (keys as in config files)."""
        return {key_of(f): _copy(getattr(self, f.name)) for f in dataclasses.fields(self)}

    @classmethod
    def from_dict(cls, values: dict[str, Any], source: str = "config") -> "RunConfig":
        """Build from a mapping of config keys (such as config.json), rejecting unknown keys."""
        merged = apply_layer(RunConfig().to_dict(), values, source)
        return cls(**{f.name: merged[key_of(f)] for f in dataclasses.fields(cls)})


def key_of(f: dataclasses.Field) -> str:
    """The config key of a field (its name)."""
    return f.name


FIELDS = {key_of(f): f for f in dataclasses.fields(RunConfig)}
_TYPES = typing.get_type_hints(RunConfig)


def _copy(value: Any) -> Any:
    return dict(value) if isinstance(value, dict) else value


def _closest(word: str, choices) -> str:
    match = difflib.get_close_matches(word, list(choices), n=1)
    return f"did you mean '{match[0]}'? " if match else ""


def coerce(f: dataclasses.Field, value: Any) -> Any:
    """Convert ``value`` (possibly a string from ``--set``) to the field's type, or raise ConfigError."""
    from .options import coerce_option, expected

    key, kind = key_of(f), _TYPES[f.name]
    if value is None and f.default is None:
        return None
    if kind is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"bad value {value!r} for '{key}': expected a table of option names to values")
        return dict(value)
    template = {bool: False, int: 0, float: 0.0}.get(kind, "")
    if template == "" and not isinstance(value, str):
        raise ConfigError(f"bad value {value!r} for '{key}': expected a string")
    try:
        value = coerce_option(value, template, where=f"setting '{key}'")
    except ValueError:
        raise ConfigError(f"bad value {value!r} for '{key}': expected {expected(template)}") from None
    choices = f.metadata.get("choices")
    if choices and value not in choices:
        raise ConfigError(f"bad value {value!r} for '{key}': {_closest(value, choices)}choose from {', '.join(choices)}")
    return value


def split_key(key: str, source: str) -> tuple[str, str | None]:
    """``'lr'`` → ('lr', None); ``'dataset.angle'`` / ``'dataset_options.angle'`` → ('dataset_options', 'angle')."""
    key = SHORTCUTS.get(key, key)
    head, dot, option = key.partition(".")
    if dot:
        table = head if head.endswith("_options") else f"{head}_options"
        if table in FIELDS and option:
            return table, option
        tables = [f"{c}.<option>" for c in COMPONENTS]
        raise ConfigError(f"unknown setting '{key}' ({source}): {_closest(head, COMPONENTS)}dotted keys are {', '.join(tables)}")
    if key not in FIELDS:
        valid = [*FIELDS, *SHORTCUTS]
        raise ConfigError(f"unknown setting '{key}' ({source}): {_closest(key, valid)}valid settings: {', '.join(valid)}")
    return key, None


def apply_layer(values: dict[str, Any], updates: dict[str, Any], source: str) -> dict[str, Any]:
    """A copy of ``values`` (config keys) with ``updates`` applied; option tables merge key by key."""
    result = {k: _copy(v) for k, v in values.items()}
    for key, value in updates.items():
        name, option = split_key(str(key), source)
        if option is not None:
            result[name][option] = value
        elif name in COMPONENTS and isinstance(value, dict):  # a [dataset] table: name = ... and its options
            table = dict(value)
            if TABLE_NAME_KEY in table:
                result[name] = coerce(FIELDS[name], table.pop(TABLE_NAME_KEY))
            result[f"{name}_options"].update(table)
        elif name.endswith("_options"):
            if not isinstance(value, dict):
                raise ConfigError(f"bad value {value!r} for '{name}' ({source}): expected a table of options")
            result[name].update(value)
        else:
            result[name] = coerce(FIELDS[name], value)
    return result


TABLE_NAME_KEY = "name"
"""In a component table (``[dataset]``), the key that names the component; every other key is an option."""


class _Yaml12Booleans(yaml.SafeLoader):
    """YAML where only true/false are booleans (as in YAML 1.2): yes/no/on/off/y/n stay strings."""


_Yaml12Booleans.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Yaml12Booleans.add_implicit_resolver("tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))


def yaml_load(text: str) -> Any:
    """Parse YAML (config files, ``--set`` values) with only true/false as booleans."""
    return yaml.load(text, Loader=_Yaml12Booleans)


def parse_set(assignment: str) -> tuple[str, Any]:
    """``'dataset.angle=50'`` → ('dataset.angle', 50): the value is read as a YAML scalar."""
    key, eq, text = assignment.partition("=")
    if not eq or not key.strip():
        raise ConfigError(f"--set expects KEY=VALUE, got {assignment!r}")
    try:
        value = yaml_load(text) if text.strip() else ""
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
            data = yaml_load(text) or {}
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
    registry=None,
    recommend: bool = True,
) -> RunConfig:
    """Resolve a run's config: defaults < recommendations < ``file`` < ``sets`` (``KEY=VALUE``) < ``flags``.

    Recommendations are those of the components the other layers choose (a fresh registry of the
    installed plugins when ``registry`` is None); ``recommend=False`` leaves them out. The result's
    ``recommended`` attribute maps each recommendation that took effect to ``{"value", "from"}``.
    """
    layers = []
    if file is not None:
        layers.append((load_file(file), f"in {file}"))
    layers.append((dict(parse_set(s) for s in sets), "in --set"))
    layers.append((dict(flags or {}), "from the command line"))
    defaults = RunConfig().to_dict()
    recommended: dict[str, dict[str, Any]] = {}
    for _ in range(len(COMPONENTS) + 1):  # a recommendation may choose another component (digits-blend → lenet)
        values = apply_layer(defaults, {k: r["value"] for k, r in recommended.items()}, "in the recommendations")
        for updates, source in layers:
            values = apply_layer(values, updates, source)
        if not recommend:
            break
        if registry is None:
            from .plugins import get_registry

            registry = get_registry()
        found = recommendations(values, registry, given={split_key(str(k), src) for updates, src in layers for k in updates})
        if found == recommended:
            break
        recommended = found
    cfg = RunConfig.from_dict(values)
    if registry is not None:
        check_components(cfg, registry)
        absolute_paths(cfg, registry)
    cfg.recommended = recommended
    return cfg


def check_components(cfg: RunConfig, registry) -> None:
    """ConfigError (one line, with the choices) for a component name or option no plugin provides."""
    from .plugins import validate_options

    for prefix, kind in COMPONENT_KINDS.items():
        try:
            spec = registry.get(kind, getattr(cfg, prefix))
            validate_options(spec, getattr(cfg, f"{prefix}_options"), kind=kind)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
    from .loggers import logger_names

    for name in logger_names(cfg.log):
        try:
            registry.get("logger", name)
        except ValueError as exc:
            raise ConfigError(f"--log: {exc}") from None


def absolute_paths(cfg: RunConfig, registry) -> None:
    """Make every path option of the chosen components absolute, so the run works from any directory."""
    from .options import absolute_path

    for prefix, kind in COMPONENT_KINDS.items():
        spec = registry.get(kind, getattr(cfg, prefix))
        options = getattr(cfg, f"{prefix}_options")
        for key, value in options.items():
            if str(key).replace("-", "_") in spec.path_options:
                options[key] = absolute_path(value)


def recommendations(values: dict[str, Any], registry, given=frozenset()) -> dict[str, dict[str, Any]]:
    """The recommended settings of the components ``values`` chooses, minus those the user ``given``.

    Order of precedence among components: selector < method < discriminator < backbone < dataset
    (the dataset knows its task best). A recommended option of a component applies only when the chosen
    component takes that option (``method.lambda`` is skipped for source-only).
    """
    found: dict[str, dict[str, Any]] = {}
    for prefix in ("select", "method", "discriminator", "backbone", "dataset"):
        name, kind = values[prefix], COMPONENT_KINDS[prefix]
        try:
            spec = registry.get(kind, name)
        except ValueError:
            continue  # reported when the run builds its components
        for key, value in spec.recommended.items():
            where = f"recommendations of {kind} '{name}'"
            field_name, option = split_key(str(key), where)
            if (field_name, option) in given:
                continue
            if option is not None:
                target_prefix = field_name[: -len("_options")]
                target_kind = COMPONENT_KINDS[target_prefix]
                try:
                    if option not in registry.get(target_kind, values[target_prefix]).options:
                        continue
                except ValueError:
                    continue
            found[key] = {"value": value, "from": f"{kind} {name}"}
    return found


PROVENANCE_KEY = "provenance"
"""config.json's record of where each component came from and which recommendations applied;
informational (ignored when the config is read back)."""


def save(config: RunConfig, path: str | Path, provenance: dict[str, Any] | None = None) -> None:
    """Write the resolved config as JSON (the run directory's config.json), with its provenance."""
    data = config.to_dict()
    if provenance:
        data[PROVENANCE_KEY] = provenance
    files.write_json(data, path)


def load(path: str | Path) -> RunConfig:
    """Read a config.json written by :func:`save`."""
    values = load_file(path)
    values.pop(PROVENANCE_KEY, None)
    return RunConfig.from_dict(values, f"in {path}")


def load_provenance(path: str | Path) -> dict[str, Any]:
    """The provenance recorded in a config.json (empty for runs written before it was recorded)."""
    return load_file(path).get(PROVENANCE_KEY) or {}
