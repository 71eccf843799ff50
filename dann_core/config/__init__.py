"""Every setting of a training run, declared once, and how a run's config is resolved and stored.

:class:`RunConfig` is the single declaration: each field carries its default and help text, and the
CLI generates its ``dann run`` options from it. A config is resolved in layers, each overriding the
one before::

    defaults  <  recommendations of the chosen components  <  --config FILE  <  --set key=value  <  explicit flags

- :mod:`.schema`: RunConfig, its ranges and coercion, and the key grammar (``dataset.angle``,
  ``lambda``, ``[dataset]`` tables).
- :mod:`.sources`: config files (TOML, YAML, JSON) and ``--set KEY=VALUE``.
- :mod:`.resolve`: the layers, the components' recommendations, component and option checks.
- :mod:`.store`: a run directory's config.json (config and provenance).

Every name is re-exported here: import them from ``dann_core.config``. The package sits above
:mod:`dann_core.plugins` (it reads the kinds table and the registry) and below everything that runs.
"""
from .resolve import absolute_paths, check_components, overridden_recommendations, recommendations, resolve
from .schema import (
    COMPONENT_KINDS,
    COMPONENTS,
    FIELDS,
    INT_RANGES,
    KERNELS,
    MAX_BATCH_SIZE,
    MAX_BOTTLENECK,
    MAX_KEEP_CANDIDATES,
    MAX_LR,
    MAX_METHOD_NUMBER,
    MAX_SEED,
    MAX_STEPS,
    MAX_THREADS,
    NUMBER_RANGES,
    PRECISIONS,
    SHORTCUTS,
    TABLE_NAME_KEY,
    ConfigError,
    RunConfig,
    apply_layer,
    coerce,
    given_keys,
    key_of,
    setting,
    split_key,
)
from .sources import MAX_CONFIG_BYTES, MAX_YAML_ALIASES, MAX_YAML_NODES, YamlLimitError, load_file, parse_set, split_component, yaml_load
from .store import PROVENANCE_KEY, load, load_provenance, save

__all__ = [
    "COMPONENTS",
    "COMPONENT_KINDS",
    "FIELDS",
    "INT_RANGES",
    "KERNELS",
    "MAX_BATCH_SIZE",
    "MAX_BOTTLENECK",
    "MAX_CONFIG_BYTES",
    "MAX_KEEP_CANDIDATES",
    "MAX_LR",
    "MAX_METHOD_NUMBER",
    "MAX_SEED",
    "MAX_STEPS",
    "MAX_THREADS",
    "MAX_YAML_ALIASES",
    "MAX_YAML_NODES",
    "NUMBER_RANGES",
    "PRECISIONS",
    "PROVENANCE_KEY",
    "SHORTCUTS",
    "TABLE_NAME_KEY",
    "ConfigError",
    "RunConfig",
    "YamlLimitError",
    "absolute_paths",
    "apply_layer",
    "check_components",
    "coerce",
    "given_keys",
    "key_of",
    "load",
    "load_file",
    "load_provenance",
    "overridden_recommendations",
    "parse_set",
    "split_component",
    "recommendations",
    "resolve",
    "save",
    "setting",
    "split_key",
    "yaml_load",
]
