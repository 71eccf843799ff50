"""Finding plugins and the components they register.

- :mod:`.manager`: :func:`get_plugin_manager` (specs, then the ``dann`` entry points).
- :mod:`.registry`: :class:`Registry` (lookup, option validation, factories, provenance) and
  :func:`get_registry`.
- :mod:`dann_core.options` (re-exported here): the one coercer of option and setting values.
- :mod:`.listing`: the data and text of ``dann plugins``.

Errors are one line and name the culprit: :class:`PluginLoadError`, :class:`DuplicateComponentError`,
:class:`UnknownComponentError`, :class:`InvalidOptionError`.
"""
from .errors import ComponentError, DuplicateComponentError, InvalidOptionError, PluginLoadError, PluginWarning, UnknownComponentError
from .listing import format_listing, plugin_listing
from .manager import (
    AUTOLOAD_ENV,
    ENTRY_POINT_GROUP,
    BrokenPlugin,
    FIRST_PARTY_DISTRIBUTION,
    DannPluginManager,
    PluginSource,
    autoload_enabled,
    check_hook_names,
    get_plugin_manager,
)
from ..options import coerce_option, validate_options
from .registry import KINDS, Registry, get_registry

__all__ = [
    "AUTOLOAD_ENV",
    "ENTRY_POINT_GROUP",
    "FIRST_PARTY_DISTRIBUTION",
    "KINDS",
    "BrokenPlugin",
    "ComponentError",
    "PluginWarning",
    "DannPluginManager",
    "DuplicateComponentError",
    "InvalidOptionError",
    "PluginLoadError",
    "PluginSource",
    "Registry",
    "UnknownComponentError",
    "autoload_enabled",
    "check_hook_names",
    "coerce_option",
    "format_listing",
    "get_plugin_manager",
    "get_registry",
    "plugin_listing",
    "validate_options",
]
