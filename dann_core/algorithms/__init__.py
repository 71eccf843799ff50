"""The algorithm interface every training method implements (built-ins live in ``plugins/dann_algorithms``).

An algorithm is registered through the ``register_algorithms`` hook as a
:class:`~dann_core.specs.ComponentSpec` whose factory takes ``context: AlgorithmContext`` plus its
options. See :class:`Algorithm` for the contract.
"""
from .base import (
    SOURCE,
    TARGET,
    TARGET_LABELLED,
    Algorithm,
    AlgorithmContext,
    Batch,
    NonFiniteLossError,
    OptimSettings,
)

__all__ = [
    "SOURCE",
    "TARGET",
    "TARGET_LABELLED",
    "Algorithm",
    "AlgorithmContext",
    "Batch",
    "NonFiniteLossError",
    "OptimSettings",
]
