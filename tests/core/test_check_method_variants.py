"""dann_core.testing.check_method's variants: a method checked under precision="bf16" (autocast on the
CPU) and under compile=True (torch.compile of the model's modules), as ``dann run --precision bf16`` /
``--compile`` train it. A built-in method passes both; a method that trains in fp32 but breaks under
a variant fails with one line naming the method and the variant."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from dann_core import hookimpl
from dann_core.methods import DomainAdversarial, Method, accuracy
from dann_core.specs import ComponentSpec
from dann_core.testing import ContractError, check_method, registry_with


class CentroidMethod(Method):
    """Source-only that keeps class centroids of the features in a float32 buffer with ``index_add_``:
    under bf16 autocast the features are bfloat16, and index_add_ refuses to mix the two."""

    def __init__(self, context) -> None:
        super().__init__(context)
        self.register_buffer("centroids", torch.zeros(context.num_classes, int(self.model.backbone.out_features)))

    def objective(self, batch):
        features = self.model.backbone(batch.source_x)
        logits = self.model.classifier(features)
        self.centroids.mul_(0.9).index_add_(0, batch.source_y, 0.1 * features.detach() / len(features))
        loss = F.cross_entropy(logits, batch.source_y)
        return loss, {"label_loss": loss.detach(), "train_acc": accuracy(logits, batch.source_y)}


@torch.library.custom_op("dann_test_variants::reverse", mutates_args=())
def opaque_reverse(x: torch.Tensor) -> torch.Tensor:
    """A gradient reversal as an op of its own, with an autograd formula but no fake (meta) kernel."""
    return x.clone()


torch.library.register_autograd("dann_test_variants::reverse", lambda ctx, grad: -grad)


class OpaqueReversal(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return opaque_reverse(x)


class OpaqueDANN(DomainAdversarial):
    """DANN whose discriminator starts with :func:`opaque_reverse`: eager runs train; torch.compile
    cannot trace the op (it has no fake kernel), so the compiled discriminator fails."""

    def build_discriminator(self, context) -> nn.Module:
        return nn.Sequential(OpaqueReversal(), context.make_discriminator(int(self.model.backbone.out_features)))


class _Plugin:
    @hookimpl
    def register_methods(self):
        return [ComponentSpec.from_factory("centroids", CentroidMethod), ComponentSpec.from_factory("opaque-dann", OpaqueDANN)]


@pytest.fixture(scope="module")
def registry():
    return registry_with(_Plugin())


def test_a_built_in_method_trains_under_bf16():
    summary = check_method("dann", precision="bf16")
    assert summary["method"] == "dann" and summary["steps"] == 4


def test_a_method_that_breaks_under_autocast_fails_naming_the_method_and_bf16(registry):
    check_method("centroids", registry=registry)  # fp32: trains, twice the same
    with pytest.raises(ContractError) as info:
        check_method("centroids", registry=registry, precision="bf16")
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("method 'centroids' under precision=bf16 failed: RuntimeError: index_add_"), message


@pytest.mark.slow  # torch.compile (inductor) of a tiny model: tens of seconds on 2 cores, most of it once per process
def test_a_built_in_method_trains_under_compile_and_a_method_compile_cannot_trace_fails(registry):
    summary = check_method("dann", compile=True)
    assert summary["method"] == "dann" and summary["steps"] == 4
    check_method("opaque-dann", registry=registry)  # eager: trains, twice the same
    with pytest.raises(ContractError) as info:
        check_method("opaque-dann", registry=registry, compile=True)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("method 'opaque-dann' under compile=True failed: ") and "fake tensor" in message, message  # no fake kernel


def test_a_precision_the_cpu_check_cannot_run_is_refused():
    with pytest.raises(ValueError, match="precision must be one of fp32, bf16"):
        check_method("dann", precision="fp16")
