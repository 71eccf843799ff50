"""The method contract every training method implements (built-ins live in ``plugins/dann_methods``).

A method is registered through the ``register_methods`` hook as a
:class:`~dann_core.specs.ComponentSpec` whose factory takes ``context: MethodContext`` plus its
options. See :class:`Method` for the contract and :mod:`.adversarial` for DANN's step in public,
reusable pieces (:class:`DomainAdversarial`, :class:`AdversarialStep`); :mod:`.regularizers` holds
the regulariser contract (terms any adversarial method adds by name: ``--set method.plus=mcc``) and
:mod:`.multipass` the helpers of a step with extra forwards (:func:`full_precision`, :func:`frozen_bn_stats`).

The names below are imported when first asked for: a plugin's ``register_methods`` hook imports
:mod:`.plus` (the regulariser table) from here, and that must not import torch (``dann plugins``).
``Algorithm`` and ``AlgorithmContext`` (and the module ``dann_core.algorithms``) are the names before
the word "method" was used everywhere: they still work and warn once (``DeprecationWarning``).
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # where each name comes from, for type checkers, editors and dann_core.references
    from .adversarial import AdversarialStep, DomainAdversarial
    from .base import (BATCH_KINDS, SOURCE, TARGET, TARGET_LABELLED, Batch, Method, MethodContext, NonFiniteLossError,
                       OptimSettings, accuracy)
    from .plus import REGULARIZERS, composable, parse_plus, register_regularizer, regularizer_options
    from .multipass import frozen_bn_stats, full_precision
    from .regularizers import Step, add_terms, build_regularizers

_FROM = {
    "adversarial": ("AdversarialStep", "DomainAdversarial"),
    "multipass": ("frozen_bn_stats", "full_precision"),
    "regularizers": ("Step", "add_terms", "build_regularizers"),
    "plus": ("REGULARIZERS", "composable", "parse_plus", "register_regularizer", "regularizer_options"),
    "base": ("BATCH_KINDS", "SOURCE", "TARGET", "TARGET_LABELLED", "Method", "MethodContext", "Batch",
             "NonFiniteLossError", "OptimSettings", "accuracy"),
}
_MODULE_OF = {name: module for module, names in _FROM.items() for name in names}


def __getattr__(name: str):
    if name in _FROM:  # a submodule not imported yet
        return _load(name)
    if name in ("Algorithm", "AlgorithmContext"):  # the names before "method" (base.DEPRECATED_NAMES)
        return _load("base").deprecated(name, __name__)
    if name not in _MODULE_OF:
        raise AttributeError(f"module 'dann_core.methods' has no attribute '{name}'")
    return getattr(_load(_MODULE_OF[name]), name)


def _load(module: str):
    # not ``from . import plus``: that asks this module for ``plus`` first, which calls __getattr__ again
    return importlib.import_module(f"{__name__}.{module}")


def __dir__() -> list[str]:
    return sorted(__all__)


__all__ = [
    "BATCH_KINDS",
    "SOURCE",
    "TARGET",
    "TARGET_LABELLED",
    "AdversarialStep",
    "Batch",
    "DomainAdversarial",
    "Method",
    "MethodContext",
    "NonFiniteLossError",
    "OptimSettings",
    "REGULARIZERS",
    "Step",
    "accuracy",
    "add_terms",
    "build_regularizers",
    "composable",
    "frozen_bn_stats",
    "full_precision",
    "parse_plus",
    "register_regularizer",
    "regularizer_options",
]
