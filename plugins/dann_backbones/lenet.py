"""``lenet``: the paper's MNIST feature extractor (Ganin & Lempitsky 2015, MNIST → MNIST-M)."""
from __future__ import annotations

from torch import nn

from ._shapes import flat_features, image_channels


class LeNetBackbone(nn.Module):
    """conv5×5-32 → ReLU → maxpool2 → conv5×5-48 → ReLU → maxpool2 → flatten (48·4·4 = 768 for 28×28)."""

    def __init__(self, input_shape: tuple[int, ...]) -> None:
        super().__init__()
        self.layers = nn.Sequential(
            nn.Conv2d(image_channels("lenet", input_shape), 32, kernel_size=5),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(32, 48, kernel_size=5),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
        )
        self.out_features = flat_features("lenet", self.layers, input_shape)

    def forward(self, x):
        return self.layers(x)

    def default_head(self, num_classes: int) -> nn.Module:
        """The paper's MNIST label predictor: fc100 → ReLU → fc100 → ReLU → fc(classes)."""
        return nn.Sequential(
            nn.Linear(self.out_features, 100),
            nn.ReLU(),
            nn.Linear(100, 100),
            nn.ReLU(),
            nn.Linear(100, num_classes),
        )


def make_lenet(input_shape: tuple[int, ...]) -> LeNetBackbone:
    """The paper's MNIST LeNet features: two conv5×5 (32, 48) + ReLU + maxpool2; any channel count.

    No options. 28×28 inputs give 768 features; its default head is fc100-relu-fc100-relu-fc.
    """
    return LeNetBackbone(tuple(input_shape))
