"""First-party dann backbones plugin: mlp, lenet, svhn-net, resnet18, resnet50.

Every backbone takes ``input_shape`` plus its options, has ``out_features`` and
``default_head(num_classes)`` (the paper's label predictor for that architecture); a backbone loaded
from pretrained weights also has ``pretrained_parameters()`` and ``input_normalization``. The ResNets are
always registered (so ``dann plugins`` lists them) and raise an error naming ``pip install
torchvision`` when it is missing. Wired through the ``dann`` entry point ``backbones = "dann_backbones"``.
"""
from __future__ import annotations

from dann_core import hookimpl
from dann_core.specs import ComponentSpec


@hookimpl
def register_backbones() -> list[ComponentSpec]:
    """The built-in backbones."""
    from .lenet import make_lenet
    from .mlp import make_mlp
    from .resnet import make_resnet18, make_resnet50
    from .svhn_net import make_svhn_net

    return [
        ComponentSpec.from_factory("mlp", make_mlp),
        ComponentSpec.from_factory("lenet", make_lenet),
        ComponentSpec.from_factory("svhn-net", make_svhn_net),
        ComponentSpec.from_factory("resnet18", make_resnet18, init_options=("weights",)),
        ComponentSpec.from_factory("resnet50", make_resnet50, init_options=("weights",)),
    ]
