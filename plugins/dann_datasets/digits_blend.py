"""``digits-blend``: scikit-learn's real digits rendered MNIST-style → the same digits MNIST-M-blended.

An offline, seconds-fast stand-in for MNIST → MNIST-M (Ganin & Lempitsky 2015). The 1797 originals
of ``sklearn.datasets.load_digits`` are split into disjoint pools first (train / source-val /
target-test), so target_test digits were never seen, in any rendering, during training.
"""
from __future__ import annotations

import numpy as np

from dann_core.specs import DomainData

from . import _common
from ._common import generator, permutation_split, split
from ._digits import blend_with_photos, gray_to_rgb, render_digits, sklearn_photos


def make_digits_blend(
    seed: int,
    n_images: int = 10000,
    n_val_images: int = 1000,
    n_test_images: int = 2000,
    test_fraction: float = 0.3,
    val_fraction: float = 0.1,
    photo_intensity: float = 0.5,
    max_rotation: float = 15.0,
    max_scale_change: float = 0.1,
    max_shift: float = 2.0,
    standardize: str = "source",
) -> DomainData:
    """sklearn digits (gray, 3×28×28) → the same digits blended with sklearn's sample photos (MNIST-M recipe).

    Options:
      n_images: rendered images in source_train and, separately augmented, in target_train.
      n_val_images: source_val images, rendered from the held-out validation originals.
      n_test_images: target_test images, blended from the held-out test originals.
      test_fraction: share of the 1797 originals reserved for target_test.
      val_fraction: share of the 1797 originals reserved for source_val.
      photo_intensity: photo scale before |photo - digit|; 0.5 keeps strokes brighter than the
        background (at 1.0 bright sky/petals flip the polarity and DANN gains nothing).
      max_rotation: random rotation in degrees, uniform in ±max_rotation.
      max_scale_change: random scale, uniform in 1 ± max_scale_change.
      max_shift: random shift in pixels, uniform in ±max_shift per axis.
      standardize: source | domain | none, per-channel standardisation (see _common.STANDARDIZE_MODES);
        "source" (one set of statistics for both domains) leaves the shift for DANN to remove. LeNet,
        SGD lr 0.03 annealed, batch 64+64, target accuracy source-only → DANN: "source" 0.767 → 0.825
        (1500 steps, seed 0) and 0.775 → 0.835 (3000 steps, seed 1); "domain" 0.762 → 0.778 (1500, seed 0).
    """
    from sklearn.datasets import load_digits

    for name, value in (("n_images", n_images), ("n_val_images", n_val_images), ("n_test_images", n_test_images)):
        if value < 1:
            raise ValueError(f"digits-blend: {name} must be at least 1, got {value}")
    if not (test_fraction > 0.0 and val_fraction > 0.0 and test_fraction + val_fraction < 1.0):
        raise ValueError(
            f"digits-blend: test_fraction and val_fraction must be positive with a sum below 1, "
            f"got {test_fraction} and {val_fraction}"
        )
    if not 0.0 <= max_scale_change < 1.0:
        raise ValueError(f"digits-blend: max_scale_change must be in [0, 1), got {max_scale_change}")
    if not 0.0 <= photo_intensity <= 1.0:
        raise ValueError(f"digits-blend: photo_intensity must be in [0, 1], got {photo_intensity}")

    digits = load_digits()
    originals = digits.images.astype(np.float32) / 16.0
    labels = digits.target.astype(np.int64)
    train_pool, val_pool, test_pool = original_pools(seed, len(labels), test_fraction, val_fraction)
    photos = sklearn_photos()

    def render(pool: np.ndarray, count: int, stream: int) -> tuple[np.ndarray, np.ndarray]:
        rng = generator(seed, stream)
        chosen = rng.choice(pool, size=count, replace=True)
        images = render_digits(
            originals[chosen],
            rng,
            max_rotation=max_rotation,
            scale_range=(1.0 - max_scale_change, 1.0 + max_scale_change),
            max_shift=max_shift,
        )
        return images, labels[chosen]

    def blend(images: np.ndarray, stream: int) -> np.ndarray:
        return blend_with_photos(images, photos, photo_intensity, generator(seed, stream))

    source_x, source_y = render(train_pool, n_images, 2)
    val_x, val_y = render(val_pool, n_val_images, 3)
    target_x, target_y = render(train_pool, n_images, 4)
    test_x, test_y = render(test_pool, n_test_images, 5)
    data = DomainData(
        source_train=split(gray_to_rgb(source_x), source_y),
        source_val=split(gray_to_rgb(val_x), val_y),
        target_train=split(blend(target_x, 6), target_y),
        target_test=split(blend(test_x, 7), test_y),
        num_classes=10,
        input_shape=(3, 28, 28),
        class_names=[str(digit) for digit in range(10)],
    )
    return _common.standardize(data, standardize)


def original_pools(
    seed: int, n: int, test_fraction: float, val_fraction: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Disjoint (train, val, test) index pools over the ``n`` originals, sized by the fractions."""
    train_pool, test_pool = permutation_split(n, test_fraction, generator(seed, 0))
    keep, val_positions = permutation_split(train_pool.size, val_fraction / (1.0 - test_fraction), generator(seed, 1))
    return train_pool[keep], train_pool[val_positions], test_pool
