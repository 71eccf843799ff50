"""``mlp``: the paper's domain classifier, a small MLP on the (gradient-reversed) features."""
from __future__ import annotations

from torch import nn


def output_width(num_domains: int) -> int:
    """1 logit for two domains (binary, positive = target), else one logit per domain."""
    if num_domains < 2:
        raise ValueError(f"a discriminator needs num_domains >= 2, got {num_domains}")
    return 1 if num_domains == 2 else num_domains


def mlp_layers(in_features: int, hidden: tuple[int, ...], out_features: int, dropout: float) -> nn.Sequential:
    """Linear → ReLU → Dropout for each hidden width, then a final Linear to ``out_features``."""
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"discriminator dropout must be in [0, 1), got {dropout}")
    layers: list[nn.Module] = []
    for width in hidden:
        if width < 1:
            raise ValueError(f"discriminator hidden widths must be positive, got {tuple(hidden)}")
        layers += [nn.Linear(in_features, width), nn.ReLU()]
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        in_features = width
    layers.append(nn.Linear(in_features, out_features))
    return nn.Sequential(*layers)


class MLPDiscriminator(nn.Module):
    """Domain logits from features."""

    def __init__(self, in_features: int, num_domains: int, hidden: tuple[int, ...], dropout: float) -> None:
        super().__init__()
        self.num_domains = num_domains
        self.layers = mlp_layers(in_features, tuple(hidden), output_width(num_domains), dropout)

    def forward(self, features):
        return self.layers(features)


def make_mlp_discriminator(
    in_features: int,
    num_domains: int,
    hidden: tuple[int, ...] = (100,),
    dropout: float = 0.0,
) -> MLPDiscriminator:
    """MLP domain classifier; (N, 1) logits for 2 domains, (N, num_domains) for K-way (multi-source).

    Options:
      hidden: comma-separated hidden widths: "100" (the paper's digits), "1024,1024" (its Office
        setting, with dropout 0.5), "" for a linear (logistic-regression) discriminator as in the toy.
      dropout: dropout after each hidden ReLU.
    """
    return MLPDiscriminator(in_features, num_domains, tuple(hidden), dropout)
