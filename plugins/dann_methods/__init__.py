"""First-party dann methods plugin: dann, cdan, source-only, target-oracle and the methods compared
against them (mcc, mdd, dan, jan, mcd, adda, bsp, afn), plus the regularisers mcc, bsp and afn that any
adversarial method adds with ``--set method.plus=...``.

Wired through the ``dann`` entry point ``methods = "dann_methods"``, exactly as a third-party
package would add its own method. The regularisers are registered by ``register_methods`` before
it builds the adversarial methods' specs with their options; like every first-party plugin, the
modules are imported inside the hook, so importing this package costs nothing (``dann --help``).
"""
from __future__ import annotations

from dann_core import hookimpl
from dann_core.specs import ComponentSpec


@hookimpl
def register_methods() -> list[ComponentSpec]:
    """The built-in training methods."""
    from dann_core.methods import composable, register_regularizer

    register_regularizer("mcc", "dann_methods.mcc:ClassConfusion", "Minimum Class Confusion on target predictions (Jin et al. 2020)")
    register_regularizer("bsp", "dann_methods.bsp:SpectralPenalty", "Batch Spectral Penalization of the top singular values (Chen et al. 2019)")
    register_regularizer("afn", "dann_methods.afn:FeatureNorm", "Adaptive Feature Norm, stepwise or hard (Xu et al. 2019)")

    return [
        composable(ComponentSpec.from_reference("dann", "dann_methods.dann:DANN")),
        composable(ComponentSpec.from_reference("cdan", "dann_methods.cdan:CDAN")),
        ComponentSpec.from_reference("source-only", "dann_methods.supervised:SourceOnly"),
        ComponentSpec.from_reference("target-oracle", "dann_methods.supervised:TargetOracle"),
        ComponentSpec.from_reference("mcc", "dann_methods.mcc:MCC"),
        composable(ComponentSpec.from_reference("mdd", "dann_methods.mdd:MDD")),
        ComponentSpec.from_reference("dan", "dann_methods.dan:DAN"),
        ComponentSpec.from_reference("jan", "dann_methods.jan:JAN"),
        ComponentSpec.from_reference("mcd", "dann_methods.mcd:MCD"),
        ComponentSpec.from_reference("adda", "dann_methods.adda:ADDA"),
        composable(ComponentSpec.from_reference("bsp", "dann_methods.bsp:DANNBSP"), exclude=("bsp",)),  # its own k, weight
        ComponentSpec.from_reference("afn", "dann_methods.afn:AFN"),
    ]
