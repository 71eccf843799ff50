"""Deprecated: the method contract moved to :mod:`dann_core.methods` (the CLI and the docs say "method").

A plugin written against this module keeps working: every name resolves to the one in
:mod:`dann_core.methods`, and the first import of this module warns once (``DeprecationWarning``),
naming the new module. ``Algorithm`` and ``AlgorithmContext`` are ``Method`` and ``MethodContext``.
"""
from __future__ import annotations

import warnings

warnings.warn("dann_core.algorithms is renamed dann_core.methods (Algorithm is Method, AlgorithmContext is MethodContext); "
              "import from dann_core.methods", DeprecationWarning, stacklevel=2)


def __getattr__(name: str):
    from .. import methods
    from ..methods import base

    if name in base.DEPRECATED_NAMES:  # warned above, once for the module: no second warning per name
        return getattr(base, base.DEPRECATED_NAMES[name])
    if name in ("adversarial", "base", "plus", "regularizers", "sgd"):
        import importlib

        return importlib.import_module(f"dann_core.algorithms.{name}")
    return getattr(methods, name)
