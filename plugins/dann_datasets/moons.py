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
      noise: standard deviation of the Gaussian noise added to the points (scikit-learn's make_moons).
      standardize: source | domain | none, per-feature standardisation (see _common.STANDARDIZE_MODES).
    """
    from sklearn.datasets import make_moons

    if n_per_class < 1 or n_test_per_class < 1:
        raise ValueError("moons: n_per_class and n_test_per_class must be at least 1")
    rng = generator(seed, 0)

    def draw(n: int, rotate: bool):
        x, y = make_moons(n_samples=2 * n, noise=noise, random_state=int(rng.integers(2**31)))
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


def _rotate(points: np.ndarray, degrees: float) -> np.ndarray:
    theta = math.radians(degrees)
    rotation = np.array([[math.cos(theta), -math.sin(theta)], [math.sin(theta), math.cos(theta)]])
    return (points - MOONS_CENTRE) @ rotation.T + MOONS_CENTRE

