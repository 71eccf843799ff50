"""Where settings come from: config files (TOML, YAML, JSON) and ``--set KEY=VALUE`` assignments.

YAML (files and ``--set``) reads only true/false as booleans: yes/no/on/off stay text, so a string
option keeps them as written and a boolean setting still accepts them.

Inputs are bounded: a config file holds at most :data:`MAX_CONFIG_BYTES`, and YAML at most
:data:`MAX_YAML_ALIASES` aliases expanding to at most :data:`MAX_YAML_NODES` values, so a "billion
laughs" document (1.4 KB of nested aliases) is refused in one line instead of growing to gigabytes.
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: the same parser, published as tomli (a dependency there)
    import tomli as tomllib

from ..options import shown
from .schema import ConfigError


MAX_CONFIG_BYTES = 1 << 20
"""A config file's largest size (1 MiB; real ones are a few hundred bytes)."""
MAX_YAML_ALIASES = 100
MAX_YAML_NODES = 100_000
"""Values a YAML document may hold once its aliases are expanded (a config has tens)."""


class YamlLimitError(ConfigError):
    """A YAML document beyond :data:`MAX_YAML_ALIASES` or :data:`MAX_YAML_NODES` (an alias bomb)."""


class _Yaml12Booleans(yaml.SafeLoader):
    """YAML where only true/false are booleans (as in YAML 1.2): yes/no/on/off/y/n stay strings.

    It also counts aliases while composing and the values the document expands to before
    anything is constructed (:class:`YamlLimitError` beyond the limits).
    """

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            self.aliases_seen = getattr(self, "aliases_seen", 0) + 1
            if self.aliases_seen > MAX_YAML_ALIASES:
                raise YamlLimitError(f"YAML with more than {MAX_YAML_ALIASES} aliases (*name) is refused")
        return super().compose_node(parent, index)

    def compose_document(self):
        node = super().compose_document()
        if node is not None and _expanded_size(node, MAX_YAML_NODES) > MAX_YAML_NODES:
            raise YamlLimitError(f"YAML whose aliases expand to more than {MAX_YAML_NODES} values (or into themselves) is refused")
        return node


_Yaml12Booleans.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Yaml12Booleans.add_implicit_resolver("tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))


def _children(node) -> list:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def _expanded_size(root, limit: int) -> float:
    """How many values ``root`` holds with every alias expanded (stops counting above ``limit``; inf if recursive).

    Iterative, over shared nodes once each (memoised), so a bomb is measured without expanding it.
    """
    sizes: dict[int, int] = {}
    on_path: set[int] = set()
    stack = [(root, False)]
    while stack:
        node, finished = stack.pop()
        key = id(node)
        if finished:
            on_path.discard(key)
            sizes[key] = 1 + sum(sizes[id(child)] for child in _children(node))
            if sizes[key] > limit:
                return sizes[key]
        elif key not in sizes:
            on_path.add(key)
            stack.append((node, True))
            for child in _children(node):
                if id(child) in on_path:
                    return float("inf")  # an alias inside its own anchor: endless
                if id(child) not in sizes:
                    stack.append((child, False))
    return sizes[id(root)]


def yaml_load(text: str) -> Any:
    """Parse YAML (config files, ``--set`` values) with only true/false as booleans.

    :class:`YamlLimitError` for alias bombs; ConfigError for text nested too deeply to parse.
    """
    try:
        return yaml.load(text, Loader=_Yaml12Booleans)
    except RecursionError:
        raise ConfigError("YAML nested too deeply to read") from None


def parse_set(assignment: str) -> tuple[str, Any]:
    """``'dataset.angle=50'`` → ('dataset.angle', 50): the value is read as a YAML scalar."""
    key, eq, text = assignment.partition("=")
    if not eq or not key.strip():
        raise ConfigError(f"--set expects KEY=VALUE, got {shown(assignment)}")
    if len(text) > MAX_CONFIG_BYTES:
        raise ConfigError(f"--set {shown(key.strip())}: the value is longer than {MAX_CONFIG_BYTES} characters")
    try:
        value = yaml_load(text) if text.strip() else ""
    except yaml.YAMLError:
        value = text
    except ConfigError as exc:
        raise ConfigError(f"--set {shown(key.strip())}: {exc}") from None
    except ValueError:  # an integer past Python's 4,300-digit conversion limit
        raise ConfigError(f"--set {shown(key.strip())}: {shown(text.strip())} is a number of {len(text.strip())} characters; "
                          "no setting takes one that large") from None
    if isinstance(value, str):
        try:  # YAML 1.1 reads 1e-3 as a string
            value = float(value) if value.strip().lower() not in ("nan", "inf", "-inf", "infinity") else value
        except ValueError:
            pass
    return key.strip(), value


def split_component(entry: str) -> tuple[str, dict[str, Any]]:
    """``'cdan[entropy=true]'`` → ('cdan', {'entropy': True}): a component named with its options, as
    ``dann table --methods`` and ``--launcher`` take it; one-line ValueError when malformed."""
    name, bracket, rest = entry.strip().partition("[")
    if not bracket:
        return name.strip(), {}
    if not rest.endswith("]"):
        raise ValueError(f"bad method {entry!r}: write NAME or NAME[OPTION=VALUE,...]")
    options = dict(parse_set(item) for item in rest[:-1].split(",") if item.strip())
    return name.strip(), options


def load_file(path: str | Path) -> dict[str, Any]:
    """Read a config file: ``.toml`` (tomllib), ``.yaml`` / ``.yml`` or ``.json``; a mapping of config keys."""
    path = Path(path)
    suffix = path.suffix.lower()
    try:
        with open(path, "rb") as file:
            raw = file.read(MAX_CONFIG_BYTES + 1)  # bounded: a huge file or a device is never read whole
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror or exc}") from None
    if len(raw) > MAX_CONFIG_BYTES:
        raise ConfigError(f"config file {path} is larger than {MAX_CONFIG_BYTES // 1024} KiB; a config holds settings, not data")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"config file {path} is not UTF-8 text (byte {exc.start})") from None
    if suffix not in (".toml", ".yaml", ".yml", ".json"):
        raise ConfigError(f"config file {path} must end in .toml, .yaml, .yml or .json")
    try:
        if suffix == ".toml":
            data = tomllib.loads(text)
        elif suffix == ".json":
            data = json.loads(text)
        else:
            data = yaml_load(text) or {}
    except (tomllib.TOMLDecodeError, yaml.YAMLError, json.JSONDecodeError) as exc:
        first_line = (str(exc).splitlines() or [type(exc).__name__])[0]
        raise ConfigError(f"cannot parse config file {path}: {first_line}") from None
    except RecursionError:
        raise ConfigError(f"cannot parse config file {path}: nested too deeply") from None
    except ConfigError as exc:
        raise ConfigError(f"cannot parse config file {path}: {exc}") from None
    except ValueError:  # an integer past Python's 4,300-digit conversion limit (JSON, TOML and YAML alike)
        raise ConfigError(f"cannot parse config file {path}: it holds a number of over 4,300 digits; no setting takes one that large") from None
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a mapping of settings, got {type(data).__name__}")
    return data
