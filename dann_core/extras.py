"""Optional dependencies: a command that needs one names the extra that installs it, in one line."""
from __future__ import annotations

import importlib
from types import ModuleType


class MissingExtraError(ValueError):
    """An optional dependency is not installed (a ValueError, so commands show it as one line)."""


def require(module: str, extra: str, purpose: str) -> ModuleType:
    """Import ``module`` or raise MissingExtraError naming ``pip install 'dann[extra]'``."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingExtraError(f"{purpose} needs {module.split('.')[0]}, which is not installed: pip install 'dann[{extra}]'") from None
