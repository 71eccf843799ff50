"""``svhn-net``: the paper's SVHN/synthetic-digits feature extractor (Ganin & Lempitsky 2015)."""
from __future__ import annotations

from torch import nn

from ._shapes import flat_features, image_channels


class SVHNNetBackbone(nn.Module):
    """conv5×5-64 → ReLU → maxpool3/2 → conv5×5-64 → ReLU → maxpool3/2 → conv5×5-128 → ReLU → flatten.

    Convolutions pad by 2 so 28×28 inputs work too (32×32 gives 128·7·7 = 6272 features).
    """

    def __init__(self, input_shape: tuple[int, ...]) -> None:
        super().__init__()
        self.layers = nn.Sequential(
            nn.Conv2d(image_channels("svhn-net", input_shape), 64, kernel_size=5, padding=2),
            nn.ReLU(),
            nn.MaxPool2d(3, stride=2),
            nn.Conv2d(64, 64, kernel_size=5, padding=2),
            nn.ReLU(),
            nn.MaxPool2d(3, stride=2),
            nn.Conv2d(64, 128, kernel_size=5, padding=2),
            nn.ReLU(),
            nn.Flatten(),
        )
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


def make_svhn_net(input_shape: tuple[int, ...]) -> SVHNNetBackbone:
    """The paper's SVHN features: conv5×5 64, 64, 128 with ReLU and 3/2 max-pools; any channel count.

    No options. Its default head is fc3072-relu-fc2048-relu-fc.
    """
    return SVHNNetBackbone(tuple(input_shape))
