"""Where settings come from: config files (TOML, YAML, JSON) and ``--set KEY=VALUE`` assignments.

YAML (files and ``--set``) reads only true/false as booleans: yes/no/on/off stay text, so a string
option keeps them as written and a boolean setting still accepts them.
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

from .schema import ConfigError


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
