"""``svhn-net``: the paper's SVHN/synthetic-digits feature extractor (Ganin & Lempitsky 2015)."""
from __future__ import annotations

import torch
from torch import nn

from ._shapes import flat_features, image_channels

PAPER_GRID = 7
"""The paper's 32×32 inputs leave a 7×7 grid after the third conv (128·7·7 = 6272 features)."""


class SVHNNetBackbone(nn.Module):
    """conv5×5-64 → ReLU → maxpool3/2 → conv5×5-64 → ReLU → maxpool3/2 → conv5×5-128 → ReLU → flatten.

    Convolutions pad by 2 so 28×28 inputs work too (32×32 gives 128·7·7 = 6272 features). A grid larger
    than 7×7 (inputs above 32 px) is average-pooled to 7×7, as torchvision's AlexNet and VGG pool
    before their classifiers: otherwise the features, the fc3072 layer and the checkpoints grow with
    the image area (128 px: 128·31·31 features, ≈ 1.5 GB of weights and as much momentum).
    """

    def __init__(self, input_shape: tuple[int, ...]) -> None:
        super().__init__()
        layers = [
            nn.Conv2d(image_channels("svhn-net", input_shape), 64, kernel_size=5, padding=2),
            nn.ReLU(),
            nn.MaxPool2d(3, stride=2),
            nn.Conv2d(64, 64, kernel_size=5, padding=2),
            nn.ReLU(),
            nn.MaxPool2d(3, stride=2),
            nn.Conv2d(64, 128, kernel_size=5, padding=2),
            nn.ReLU(),
        ]
        height, width = _grid(nn.Sequential(*layers), input_shape)
        if height > PAPER_GRID or width > PAPER_GRID:
            layers.append(nn.AdaptiveAvgPool2d((min(height, PAPER_GRID), min(width, PAPER_GRID))))
        self.layers = nn.Sequential(*layers, nn.Flatten())  # the pool has no weights: state-dict keys are unchanged
        self.out_features = flat_features("svhn-net", self.layers, input_shape)

    def forward(self, x):
        return self.layers(x)

    def default_head(self, num_classes: int) -> nn.Module:
        """The paper's SVHN label predictor: fc3072 → ReLU → fc2048 → ReLU → fc(classes)."""
        return nn.Sequential(
            nn.Linear(self.out_features, 3072),
            nn.ReLU(),
            nn.Linear(3072, 2048),
            nn.ReLU(),
            nn.Linear(2048, num_classes),
        )


def _grid(convs: nn.Module, input_shape: tuple[int, ...]) -> tuple[int, int]:
    """Height and width of the convolutions' output for one input (0, 0 when the input is too small)."""
    with torch.no_grad():
        try:
            return tuple(convs(torch.zeros(1, *input_shape)).shape[-2:])
        except RuntimeError:
            return 0, 0  # flat_features then names the problem


def make_svhn_net(input_shape: tuple[int, ...]) -> SVHNNetBackbone:
    """The paper's SVHN features: conv5×5 64, 64, 128 with ReLU and 3/2 max-pools; any channel count.

    No options. Inputs above 32 px are average-pooled to the paper's 7×7 grid (6272 features).
    Its default head is fc3072-relu-fc2048-relu-fc.
    """
    return SVHNNetBackbone(tuple(input_shape))
