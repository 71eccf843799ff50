"""Resolving a run's config from its layers, and what the chosen components recommend.

::

    defaults  <  recommendations of the chosen components  <  --config FILE  <  --set key=value  <  explicit flags

Option names of components are checked here (they belong to the plugins); path options (annotated
``pathlib.Path``) are recorded as absolute paths, relative to the current directory.
"""
from __future__ import annotations

import typing
from pathlib import Path
from typing import Any

from .schema import COMPONENT_KINDS, COMPONENTS, ConfigError, RunConfig, apply_layer, given_keys, split_key
from .sources import load_file, parse_set


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
    ``recommended`` attribute maps each recommendation that took effect to ``{"value", "from"}``;
    ``overridden`` maps each one a user setting replaced to ``{"value", "from", "set", "by"}`` (the
    recommended value and its component, the user's value and where it was given).
    """
    layers = []
    if file is not None:
        layers.append((load_file(file), f"in {file}"))
    layers.append((dict(parse_set(s) for s in sets), "in --set"))
    layers.append((dict(flags or {}), "from the command line"))
    defaults = RunConfig().to_dict()
    given: dict[tuple[str, str | None], str] = {}
    for updates, source in layers:
        given.update(given_keys(updates, source))
    recommended: dict[str, dict[str, Any]] = {}
    for _ in range(len(COMPONENTS) + 1):  # a recommendation may choose another component (digits-blend → lenet)
        values = apply_layer(defaults, {k: r["value"] for k, r in recommended.items()}, "in the recommendations")
        for updates, source in layers:
            values = _apply_layer(values, updates, source)
        if not recommend:
            break
        if registry is None:
            from ..plugins import get_registry

            registry = get_registry()
        found = recommendations(values, registry, given=given)
        if found == recommended:
            break
        recommended = found
    cfg = RunConfig.from_dict(values)
    if registry is not None:
        check_components(cfg, registry, given)
        absolute_paths(cfg, registry)
    cfg.recommended = recommended
    cfg.overridden = overridden_recommendations(values, registry, given) if recommend else {}
    return cfg


def _apply_layer(values: dict[str, Any], updates: dict[str, Any], source: str) -> dict[str, Any]:
    """:func:`apply_layer`, with a bad value's error naming the file (or ``--set``) that gave it."""
    try:
        return apply_layer(values, updates, source)
    except ConfigError as exc:
        raise ConfigError(_located(str(exc), source)) from None


def _located(message: str, source: str | None) -> str:
    """``message`` led by where the setting was given (``run.toml: bad value ...``), unless it says so already."""
    if not source or not source.startswith("in ") or source in message:
        return message
    return f"{source[len('in '):]}: {message}"


def check_components(cfg: RunConfig, registry, given: dict | None = None) -> None:
    """ConfigError (one line, with the choices) for a component name or option no plugin provides.

    ``given`` (``(field, option)`` → where it was given, from :func:`resolve`) lets the error name the
    config file or ``--set`` that gave the bad name or option."""
    from ..options import validate_options

    given = given or {}
    for prefix, kind in COMPONENT_KINDS.items():
        try:
            spec = registry.get(kind, getattr(cfg, prefix))
        except ValueError as exc:
            raise ConfigError(_located(str(exc), given.get((prefix, None)))) from None
        options = getattr(cfg, f"{prefix}_options")
        try:
            validate_options(spec, options, kind=kind)
        except ValueError as exc:
            culprit = next((key for key in options if not _valid_alone(validate_options, spec, key, options[key], kind)), None)
            source = given.get((f"{prefix}_options", str(culprit).replace("-", "_"))) if culprit is not None else None
            raise ConfigError(_located(str(exc), source)) from None
    from ..loggers import logger_names

    for name in logger_names(cfg.log):
        try:
            registry.get("logger", name)
        except ValueError as exc:
            raise ConfigError(f"--log: {exc}") from None


def _valid_alone(validate_options, spec, key, value, kind) -> bool:
    try:
        validate_options(spec, {key: value}, kind=kind)
    except ValueError:
        return False
    return True


def absolute_paths(cfg: RunConfig, registry) -> None:
    """Make every path option of the chosen components absolute, so the run works from any directory."""
    from ..options import absolute_path

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
            if (field_name, option if option is None else option.replace("-", "_")) in given:
                continue
            if option is not None:
                target_prefix = field_name[: -len("_options")]
                target_kind = COMPONENT_KINDS[target_prefix]
                try:
                    target = registry.get(target_kind, values[target_prefix])
                except ValueError:
                    continue
                # a regulariser's NAME_OPTION applies only while it is in the method's plus
                applicable = getattr(target, "applicable_options", None)
                taken = applicable(values.get(field_name) or {}) if applicable is not None else target.options
                if option not in taken:
                    continue
            found[key] = {"value": value, "from": f"{kind} {name}"}
    return found


def overridden_recommendations(values: dict[str, Any], registry, given) -> dict[str, dict[str, Any]]:
    """The recommendations of the chosen components that a user setting in ``given`` replaced.

    Each maps to ``{"value": recommended, "from": "dataset moons", "set": the user's value, "by": "in f.toml"}``.
    """
    overridden = {}
    for key, entry in recommendations(values, registry).items():
        field_name, option = split_key(str(key), "recommendations")
        where = (field_name, option if option is None else option.replace("-", "_"))
        if where in given:
            table = values[field_name]
            used = table.get(option, table.get(where[1])) if option is not None else table
            overridden[key] = {**entry, "set": used, "by": given[where]}
    return overridden
