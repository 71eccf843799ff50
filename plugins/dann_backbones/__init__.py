"""First-party dann backbones plugin: mlp, lenet, svhn-net, resnet18, resnet50, auto.

Every backbone takes ``input_shape`` plus its options, has ``out_features`` and
``default_head(num_classes)`` (the paper's label predictor for that architecture); a backbone loaded
from pretrained weights also has ``pretrained_parameters()`` and ``input_normalization``. The ResNets are
always registered (so ``dann plugins`` lists them) and raise an error naming ``pip install
torchvision`` when it is missing. Wired through the ``dann`` entry point ``backbones = "dann_backbones"``.
"""
from __future__ import annotations

from dann_core import hookimpl
from dann_core.specs import ComponentSpec

CONVOLUTIONS = {"channels_last": True}
"""The convolutional backbones run in channels-last memory on any device: on a 2-core CPU a LeNet
evaluation forward takes half as long (max-pooling is 3x faster in it) and a digits-blend training
step about 6% less (benchmarks/bench_e2e.py, whole runs); on a GPU it is what tensor cores want."""


@hookimpl
def register_backbones() -> list[ComponentSpec]:
    """The built-in backbones."""
    return [
        ComponentSpec.from_reference("mlp", "dann_backbones.mlp:make_mlp"),
        ComponentSpec.from_reference("lenet", "dann_backbones.lenet:make_lenet", recommended=CONVOLUTIONS),
        ComponentSpec.from_reference("svhn-net", "dann_backbones.svhn_net:make_svhn_net", recommended=CONVOLUTIONS),
        ComponentSpec.from_reference("resnet18", "dann_backbones.resnet:make_resnet18", init_options=("weights",), recommended=CONVOLUTIONS),
        ComponentSpec.from_reference("resnet50", "dann_backbones.resnet:make_resnet50", init_options=("weights",), recommended=CONVOLUTIONS),
        ComponentSpec.from_reference("auto", "dann_backbones.auto:make_auto", recommended=CONVOLUTIONS),  # nothing changes for 2-D inputs
    ]
