"""``lenet``: the paper's MNIST feature extractor (Ganin & Lempitsky 2015, MNIST → MNIST-M), and LeNet-BN."""
from __future__ import annotations

from torch import nn

from dann_core.nn import per_domain_batch_norm

from ._shapes import NORMS, check_norm, flat_features, image_channels


class LeNetBackbone(nn.Module):
    """conv5×5-32 → ReLU → maxpool2 → conv5×5-48 → ReLU → maxpool2 → flatten (48·4·4 = 768 for 28×28).

    With ``norm`` batch or domain, a BatchNorm2d follows each convolution (LeNet-BN; the
    convolutions then have no bias) and the head's hidden layers get a BatchNorm1d; ``domain``
    normalises source and target rows by their own batch statistics in training. ``dropout`` > 0
    puts a Dropout2d after the second convolution (the DTN / tllib digits networks).
    """

    def __init__(self, input_shape: tuple[int, ...], norm: str = "none", dropout: float = 0.0) -> None:
        super().__init__()
        self.norm = check_norm("lenet", norm)
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"lenet backbone: dropout must be in [0, 1), got {dropout}")
        batch_norm = norm != "none"
        layers: list[nn.Module] = [nn.Conv2d(image_channels("lenet", input_shape), 32, kernel_size=5, bias=not batch_norm)]
        if batch_norm:
            layers.append(nn.BatchNorm2d(32))
        layers += [nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(32, 48, kernel_size=5, bias=not batch_norm)]
        if batch_norm:
            layers.append(nn.BatchNorm2d(48))
        if dropout:
            layers.append(nn.Dropout2d(dropout))
        layers += [nn.ReLU(), nn.MaxPool2d(2), nn.Flatten()]  # norm none: the paper's layer indices (older checkpoints load)
        self.layers = nn.Sequential(*layers)
        self.out_features = flat_features("lenet", self.layers, input_shape)
        if norm == "domain":
            per_domain_batch_norm(self)

    def forward(self, x):
        return self.layers(x)

    def default_head(self, num_classes: int) -> nn.Module:
        """The paper's MNIST label predictor: fc100 → ReLU → fc100 → ReLU → fc(classes); with
        ``norm`` a BatchNorm1d before each ReLU (it keeps the hidden units from all dying at once)."""
        if self.norm == "none":
            return nn.Sequential(nn.Linear(self.out_features, 100), nn.ReLU(), nn.Linear(100, 100), nn.ReLU(), nn.Linear(100, num_classes))
        head = nn.Sequential(
            nn.Linear(self.out_features, 100), nn.BatchNorm1d(100), nn.ReLU(),
            nn.Linear(100, 100), nn.BatchNorm1d(100), nn.ReLU(),
            nn.Linear(100, num_classes),
        )
        return per_domain_batch_norm(head) if self.norm == "domain" else head


def make_lenet(input_shape: tuple[int, ...], norm: str = "none", dropout: float = 0.0) -> LeNetBackbone:
    """The paper's MNIST LeNet features: two conv5×5 (32, 48) + ReLU + maxpool2; any channel count.

    Options:
      norm: none (the paper's network) | batch (LeNet-BN: batch norm after each convolution and
        each hidden layer of the head) | domain (LeNet-BN whose training batches are normalised per
        domain: source and target rows by their own statistics).
      dropout: Dropout2d rate after the second convolution (0: none).

    28×28 inputs give 768 features; its default head is fc100-relu-fc100-relu-fc.
    """
    return LeNetBackbone(tuple(input_shape), norm, float(dropout))


__all__ = ["NORMS", "LeNetBackbone", "make_lenet"]
