"""The plugin errors; each message is one line naming the plugin, component or option at fault."""
from __future__ import annotations

from ..options import InvalidOptionError, suggest  # defined with the coercer, below the plugins


class PluginLoadError(RuntimeError):
    """A plugin failed to import, clashed with another plugin's name, or returned bad data."""


class PluginWarning(UserWarning):
    """A plugin was skipped because it is broken; the message names it and the error (one line)."""


class ComponentError(ValueError):
    """A plugin's factory failed or broke the contract (returned the wrong thing); names the plugin."""


class DuplicateComponentError(ValueError):
    """Two plugins registered a component of the same kind under the same name."""


class UnknownComponentError(ValueError):
    """A component name that no plugin registered."""


__all__ = ["ComponentError", "DuplicateComponentError", "InvalidOptionError", "PluginLoadError", "PluginWarning", "UnknownComponentError", "suggest"]
