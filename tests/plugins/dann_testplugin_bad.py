"""Test plugins that break the contract: a non-spec return value and a backbone without a head."""
from __future__ import annotations

from torch import nn

from dann_core import hookimpl
from dann_core.specs import ComponentSpec


class ReturnsStrings:
    @hookimpl
    def register_discriminators(self):
        return ["not a spec"]


def make_headless(input_shape):
    """A backbone without default_head."""
    module = nn.Flatten()
    module.out_features = 2
    return module


class HeadlessBackbone:
    @hookimpl
    def register_backbones(self):
        return [ComponentSpec.from_factory("headless", make_headless)]
