"""``spectral-mlp``: a domain discriminator with spectral normalisation (Miyato et al. 2018) on each layer."""
from __future__ import annotations

from torch import nn
from torch.nn.utils.parametrizations import spectral_norm


def make_spectral_mlp(in_features: int, num_domains: int, hidden: int = 64, layers: int = 2) -> nn.Module:
    """An MLP domain classifier whose linear layers are spectrally normalised (a Lipschitz-bounded critic)."""
    if hidden < 1 or layers < 1:
        raise ValueError(f"spectral-mlp discriminator: hidden and layers must be ≥ 1, got hidden={hidden} layers={layers}")
    modules: list[nn.Module] = []
    width = in_features
    for _ in range(layers):
        modules += [spectral_norm(nn.Linear(width, hidden)), nn.ReLU()]
        width = hidden
    modules.append(spectral_norm(nn.Linear(width, 1 if num_domains == 2 else num_domains)))
    return nn.Sequential(*modules)
