"""First-party dann algorithms plugin: dann, cdan, source-only, target-oracle and the methods compared
against them (mcc, mdd, dan, jan, mcd, adda, bsp, afn), plus the regularisers mcc, bsp and afn that any
adversarial method adds with ``--set method.plus=...``.

Wired through the ``dann`` entry point ``algorithms = "dann_algorithms"``, exactly as a third-party
package would add its own method. The regularisers are registered by ``register_algorithms`` before
it builds the adversarial methods' specs with their options; like every first-party plugin, the
modules are imported inside the hook, so importing this package costs nothing (``dann --help``).
"""
from __future__ import annotations

from dann_core import hookimpl
from dann_core.specs import ComponentSpec


@hookimpl
def register_algorithms() -> list[ComponentSpec]:
    """The built-in training methods."""
    from dann_core.algorithms import composable, register_regularizer

    from .adda import ADDA
    from .afn import AFN, FeatureNorm
    from .bsp import DANNBSP, SpectralPenalty
    from .cdan import CDAN
    from .dan import DAN
    from .dann import DANN
    from .jan import JAN
    from .mcc import MCC, ClassConfusion
    from .mcd import MCD
    from .mdd import MDD
    from .supervised import SourceOnly, TargetOracle

    register_regularizer("mcc", ClassConfusion, "Minimum Class Confusion on target predictions (Jin et al. 2020)")
    register_regularizer("bsp", SpectralPenalty, "Batch Spectral Penalization of the top singular values (Chen et al. 2019)")
    register_regularizer("afn", FeatureNorm, "Adaptive Feature Norm, stepwise or hard (Xu et al. 2019)")

    return [
        composable(ComponentSpec.from_factory("dann", DANN)),
        composable(ComponentSpec.from_factory("cdan", CDAN)),
        ComponentSpec.from_factory("source-only", SourceOnly),
        ComponentSpec.from_factory("target-oracle", TargetOracle),
        ComponentSpec.from_factory("mcc", MCC),
        composable(ComponentSpec.from_factory("mdd", MDD)),
        ComponentSpec.from_factory("dan", DAN),
        ComponentSpec.from_factory("jan", JAN),
        ComponentSpec.from_factory("mcd", MCD),
        ComponentSpec.from_factory("adda", ADDA),
        composable(ComponentSpec.from_factory("bsp", DANNBSP)),
        ComponentSpec.from_factory("afn", AFN),
    ]
