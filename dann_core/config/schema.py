"""What a run's settings are: :class:`RunConfig` (each field's default, help and range), the keys.

The key grammar lives here too, because reading a mapping into a RunConfig (:meth:`RunConfig.from_dict`)
is that grammar: keys are the field names; component options live in the tables ``dataset_options``,
``backbone_options``, ``discriminator_options``, ``method_options`` and ``select_options``;
``dataset.angle`` is short for ``dataset_options.angle``, and ``lambda`` and ``gamma`` stand for
``method.lambda`` and ``method.gamma``. A component may be given as a table: ``{"dataset": {"name":
"moons", "angle": 20}}`` (``name`` is reserved there).
"""
from __future__ import annotations

import dataclasses
import difflib
import math
import typing
from dataclasses import dataclass, field
from typing import Any

from ..options import coerce_option, expected, one_line, shown
from ..plugins.kinds import CONFIG_KINDS


KERNELS = ("auto", "ext", "reference")
PRECISIONS = ("fp32", "bf16", "fp16")
COMPONENT_KINDS = dict(CONFIG_KINDS)
"""Config key → registry kind of each component a run is built from (the table in :mod:`dann_core.plugins.kinds`)."""
COMPONENTS = tuple(COMPONENT_KINDS)
"""Prefixes of dotted keys (``method.lambda``); ``method`` names a method plugin, ``select`` a selector."""
SHORTCUTS = {"lambda": "method.lambda", "gamma": "method.gamma"}
"""Top-level keys that stand for a method option (``--lambda``, ``--gamma``)."""


MAX_SEED = 2**32 - 1
MAX_LR = 10.0
MAX_THREADS = 1024
"""Above every CPU node in use (2 × 128 cores with SMT is 512). Fixed rather than a multiple of this
machine's cores so that a config.json stays valid when its run is resumed on a smaller machine;
torch given 100000 threads crashes the process and starves the machine."""
MAX_STEPS = 10**9
MAX_BATCH_SIZE = 2**20
MAX_KEEP_CANDIDATES = 1000
MAX_BOTTLENECK = 16384
"""64× the Office recipes' 256; a width of 1e9 asks for tens of GB before the first step."""
MAX_METHOD_NUMBER = 1e3
"""Bound on the magnitude of the method options ``lambda`` and ``gamma`` (the paper: λ ≤ 1, γ = 10);
1e308 overflows float32 when the method stores it."""
INT_RANGES = {
    "threads": (0, MAX_THREADS, "0 (auto) or more"),
    "bottleneck": (0, MAX_BOTTLENECK, "0 (none) or a positive width"),
    "keep_candidates": (0, MAX_KEEP_CANDIDATES, "0 or more"),
    "steps": (1, MAX_STEPS, "at least 1"),
    "batch_size": (1, MAX_BATCH_SIZE, "at least 1"),
    "eval_every": (1, MAX_STEPS, "at least 1"),
}
"""Integer settings: (lowest, highest, the lower bound in words)."""
NUMBER_RANGES = {
    "lr": (lambda v: v > 0, lambda v: v <= MAX_LR, f"a number in (0, {MAX_LR:g}]"),
    "momentum": (lambda v: v >= 0, lambda v: v < 1, "a number in [0, 1)"),
    "weight_decay": (lambda v: v >= 0, lambda v: True, "a finite number ≥ 0"),
    "backbone_lr_mult": (lambda v: v > 0, lambda v: True, "a finite number > 0"),
    "seed": (lambda v: v >= 0, lambda v: v <= MAX_SEED, f"an integer in [0, {MAX_SEED}]"),
}
"""Numeric settings with a valid range: (lower check, upper check, the range in words)."""


class ConfigError(ValueError):
    """A setting that does not exist or has a bad value; the message is one short line naming it."""

    def __init__(self, message: str = "") -> None:
        super().__init__(one_line(message))


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
    method: str = setting("dann", "training method (a method plugin): dann, cdan, source-only, target-oracle, ...")
    steps: int = setting(3000, "number of SGD steps")
    batch_size: int = setting(64, "examples per domain per step (the step sees twice this for dann)")
    lr: float = setting(0.01, "initial learning rate μ0")
    lr_schedule: bool = setting(True, "anneal the learning rate as μ0 / (1 + 10p)^0.75 (the paper)")
    momentum: float = setting(0.9, "SGD momentum")
    weight_decay: float = setting(0.0, "SGD weight decay")
    backbone_lr_mult: float = setting(1.0, "learning-rate multiplier of the backbone's pretrained parameters (resnet with weights); "
                                     "0.1 fine-tunes them at a tenth of the new layers' rate, as in the paper's Office recipe")
    bottleneck: int = setting(0, "width of a Linear → BatchNorm → ReLU bottleneck between the backbone and both heads (0: none; 256 in the Office recipes)")
    seed: int = setting(0, "seed of data generation, initialisation and batch sampling")
    eval_every: int = setting(100, "steps between evaluations, checkpoints and metrics.jsonl lines")
    select: str = setting("last", "selector (plugin) that picks best.pt among the evaluated checkpoints, never with target labels: "
                                 "last, source-val, dev, entropy, snd, reverse-val, ...")
    score: str = setting("", "more selectors to score at every evaluation besides --select and last (scores go to metrics.jsonl), "
                             "comma-separated, or 'all'; dann eval select scores the rest afterwards")
    keep_candidates: int = setting(2, "candidate checkpoints kept per selector (plus the last) for dann eval select")
    device: str = setting("auto", "torch device: auto (CUDA when present), cpu, cuda, cuda:1, ...")
    threads: int = setting(0, "CPU threads of torch; 0 (auto): 1 for a tiny step (the toy MLP), else the physical cores "
                           "this process may use (its share under --nproc), never read from the momentary load; "
                           "config.json records the number used (dann_core/train/threads.py)")
    kernels: str = setting("auto", "ops backend: auto (compiled when built), ext (require it) or reference", KERNELS)
    precision: str = setting("fp32", "autocast of the training forward: fp32 (none), bf16, or fp16 (CUDA only, with loss scaling)", PRECISIONS)
    channels_last: bool = setting(False, "channels-last memory format for image models (4-D inputs, the networks' weights): "
                                         "what tensor cores want on a GPU, and twice as fast a LeNet evaluation on a CPU; "
                                         "the built-in convolutional backbones recommend it; nothing changes for 2-D inputs")
    compile: bool = setting(False, "torch.compile the model's modules (backbone, classifier, discriminator); "
                                   "warns and runs eagerly where compile is unavailable")
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
        for name, (low, high, text) in INT_RANGES.items():
            value = getattr(self, name)
            if value < low:
                raise ConfigError(f"{name} must be {text}, got {value}")
            if value > high:
                raise ConfigError(f"{name} must be at most {high}, got {value}")
        for name, (low, high, text) in NUMBER_RANGES.items():
            value = getattr(self, name)
            if not (math.isfinite(value) and low(value) and high(value)):
                raise ConfigError(f"{name} must be {text}, got {value}")
        for option in ("lambda", "gamma"):
            _check_method_number(option, self.method_options.get(option))

    def to_dict(self) -> dict[str, Any]:
        """The config as written to config.json (keys as in config files)."""
        return {key_of(f): _copy(getattr(self, f.name)) for f in dataclasses.fields(self)}

    @classmethod
    def from_dict(cls, values: dict[str, Any], source: str = "config") -> "RunConfig":
        """Build from a mapping of config keys (such as config.json), rejecting unknown keys."""
        merged = apply_layer(RunConfig().to_dict(), values, source)
        return cls(**{f.name: merged[key_of(f)] for f in dataclasses.fields(cls)})


def _check_method_number(option: str, value: Any) -> None:
    """ConfigError for a numeric ``method.<option>`` (also as text: YAML 1.1 reads ``1e308`` so) beyond the bound.

    Words (``schedule``), nan/inf and the rest of the range (λ ≥ 0, γ > 0) are reported by the
    option's coercion and the method, each in one line of their own.
    """
    if value is None or isinstance(value, bool):
        return
    try:
        number = float(value.strip()) if isinstance(value, str) else float(value)
    except (TypeError, ValueError, OverflowError):
        return
    if math.isfinite(number) and abs(number) > MAX_METHOD_NUMBER:
        raise ConfigError(f"method.{option} must be a finite number of magnitude at most {MAX_METHOD_NUMBER:g}, got {shown(value)}")


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
    key, kind = key_of(f), _TYPES[f.name]
    if value is None and f.default is None:
        return None
    if kind is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"bad value {shown(value)} for '{key}': expected a table of option names to values")
        return dict(value)
    template = {bool: False, int: 0, float: 0.0}.get(kind, "")
    if template == "" and not isinstance(value, str):
        raise ConfigError(f"bad value {shown(value)} for '{key}': expected a string")
    try:
        value = coerce_option(value, template, where=f"setting '{key}'")
    except ValueError:
        raise ConfigError(f"bad value {shown(value)} for '{key}': expected {expected(template)}") from None
    choices = f.metadata.get("choices")
    if choices and value not in choices:
        raise ConfigError(f"bad value {shown(value)} for '{key}': {_closest(value, choices)}choose from {', '.join(choices)}")
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
                raise ConfigError(f"bad value {shown(value)} for '{name}' ({source}): expected a table of options")
            result[name].update(value)
        else:
            result[name] = coerce(FIELDS[name], value)
    return result


def given_keys(updates: dict[str, Any], source: str) -> dict[tuple[str, str | None], str]:
    """``(field, option)`` → ``source`` for every setting ``updates`` gives, option tables entry by entry.

    ``{"method": {"lambda": 1.0}}`` (a ``[method]`` table) gives ``("method_options", "lambda")``, not
    ``("method", None)``: the method itself is given only by the table's ``name``. Option names are
    compared with ``_`` for ``-``, as the plugins read them.
    """
    given: dict[tuple[str, str | None], str] = {}
    for key, value in updates.items():
        name, option = split_key(str(key), source)
        if option is not None:
            given[(name, _option_key(option))] = source
        elif name in COMPONENTS and isinstance(value, dict):
            for inner in value:
                given[(name, None) if inner == TABLE_NAME_KEY else (f"{name}_options", _option_key(inner))] = source
        elif name.endswith("_options") and isinstance(value, dict):
            given.update({(name, _option_key(inner)): source for inner in value})
        else:
            given[(name, None)] = source
    return given


def _option_key(option: Any) -> str:
    return str(option).replace("-", "_")


TABLE_NAME_KEY = "name"
"""In a component table (``[dataset]``), the key that names the component; every other key is an option."""
