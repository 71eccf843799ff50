"""The plugin errors; each message is one line naming the plugin, component or option at fault."""
from __future__ import annotations

import difflib


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


class InvalidOptionError(ValueError):
    """An option a component does not take, or a value that cannot be coerced to its type."""


def suggest(name: str, choices) -> str:
    """``"did you mean 'x'? "`` for the closest of ``choices``, or ``""``."""
    close = difflib.get_close_matches(str(name), list(choices), n=1, cutoff=0.5)
    return f"did you mean '{close[0]}'? " if close else ""
