"""``moons``: the inter-twinning moons toy problem of Ganin et al. (JMLR 2016, section 5.1)."""
from __future__ import annotations

import math

import numpy as np

from dann_core.specs import DomainData

from . import _common
from ._common import generator, split

MOONS_CENTRE = np.array([0.5, 0.25])
"""Centre of scikit-learn's two moons (outer arc about (0, 0), inner arc about (1, 0.5))."""


def make_moons_problem(
    seed: int,
    n_per_class: int = 150,
    n_test_per_class: int = 500,
    angle: float = 35.0,
    noise: float = 0.1,
    standardize: str = "none",
) -> DomainData:
    """Two moons; the target is the source rotated about the moons' centre (JMLR 2016 toy).

    Options:
      n_per_class: points per class in source_train and in target_train (the paper: 150, so 300 each).
      n_test_per_class: points per class in source_val and in target_test (fresh draws).
      angle: rotation of the target domain in degrees (the paper: 35).
      noise: standard deviation of the Gaussian noise added to the points (as scikit-learn's make_moons).
      standardize: source | domain | none, per-feature standardisation (see _common.STANDARDIZE_MODES).
    """
    if n_per_class < 1 or n_test_per_class < 1:
        raise ValueError("moons: n_per_class and n_test_per_class must be at least 1")
    rng = generator(seed, 0)

    def draw(n: int, rotate: bool):
        x, y = two_moons(2 * n, noise, int(rng.integers(2**31)))
        return (_rotate(x, angle) if rotate else x), y

    data = DomainData(
        source_train=split(*draw(n_per_class, False)),
        source_val=split(*draw(n_test_per_class, False)),
        target_train=split(*draw(n_per_class, True)),
        target_test=split(*draw(n_test_per_class, True)),
        num_classes=2,
        input_shape=(2,),
        class_names=["upper moon", "lower moon"],
    )
    return _common.standardize(data, standardize)


def two_moons(n_samples: int, noise: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's ``make_moons(n_samples, noise=noise, random_state=seed)``, the same points bit
    for bit (tests/builtins/test_datasets.py), without importing scikit-learn (0.5-0.9 s of a moons run's
    start-up): the two half circles, shuffled, plus Gaussian noise, drawn in the same order from
    the same legacy ``RandomState``."""
    n_out = n_samples // 2
    n_in = n_samples - n_out
    outer, inner = np.linspace(0, np.pi, n_out), np.linspace(0, np.pi, n_in)
    x = np.vstack([np.append(np.cos(outer), 1 - np.cos(inner)), np.append(np.sin(outer), 1 - np.sin(inner) - 0.5)]).T
    y = np.hstack([np.zeros(n_out, dtype=np.intp), np.ones(n_in, dtype=np.intp)])
    random_state = np.random.RandomState(seed)
    order = np.arange(n_samples)
    random_state.shuffle(order)
    x, y = x[order], y[order]
    x += random_state.normal(scale=noise, size=x.shape)
    return x, y


def _rotate(points: np.ndarray, degrees: float) -> np.ndarray:
    theta = math.radians(degrees)
    rotation = np.array([[math.cos(theta), -math.sin(theta)], [math.sin(theta), math.cos(theta)]])
    return (points - MOONS_CENTRE) @ rotation.T + MOONS_CENTRE

