"""The method contract every training method implements (built-ins live in ``plugins/dann_algorithms``).

A method is registered through the ``register_algorithms`` hook as a
:class:`~dann_core.specs.ComponentSpec` whose factory takes ``context: AlgorithmContext`` plus its
options. See :class:`Algorithm` for the contract and :mod:`.adversarial` for DANN's step in public,
reusable pieces (:class:`DomainAdversarial`, :class:`AdversarialStep`); :mod:`.regularizers` holds
the regulariser contract (terms any adversarial method adds by name: ``--set method.plus=mcc``).
"""
from .adversarial import AdversarialStep, DomainAdversarial
from .regularizers import REGULARIZERS, Step, add_terms, build_regularizers, composable, parse_plus, register_regularizer, regularizer_options
from .base import (
    BATCH_KINDS,
    SOURCE,
    TARGET,
    TARGET_LABELLED,
    Algorithm,
    AlgorithmContext,
    Batch,
    NonFiniteLossError,
    OptimSettings,
    accuracy,
)

Method = Algorithm
"""The same class under the word the CLI and the docs use (``--method``)."""

__all__ = [
    "BATCH_KINDS",
    "SOURCE",
    "TARGET",
    "TARGET_LABELLED",
    "AdversarialStep",
    "Algorithm",
    "AlgorithmContext",
    "Batch",
    "DomainAdversarial",
    "Method",
    "NonFiniteLossError",
    "OptimSettings",
    "REGULARIZERS",
    "Step",
    "accuracy",
    "add_terms",
    "build_regularizers",
    "composable",
    "parse_plus",
    "register_regularizer",
    "regularizer_options",
]
