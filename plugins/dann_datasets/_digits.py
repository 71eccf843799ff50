"""MNIST-style digit rendering and the MNIST-M blend (Ganin & Lempitsky 2015), vectorised.

- :func:`render_digits`: draw each small digit into a 20×20 box of a 28×28 canvas (as MNIST is)
  with a random rotation, scale and shift, in one ``grid_sample`` call.
- :func:`blend_with_photos`: the MNIST-M recipe, ``|photo_patch · intensity − digit|`` per channel,
  with a random 28×28 patch of a random photo per digit.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

CANVAS = 28
BOX = 20
PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp")


def render_digits(
    images: np.ndarray,
    rng: np.random.Generator,
    max_rotation: float = 15.0,
    scale_range: tuple[float, float] = (0.9, 1.1),
    max_shift: float = 2.0,
) -> np.ndarray:
    """(N, h, w) digits in [0, 1] → (N, 28, 28) float32, each fitted to the 20×20 box then jittered.

    Rotation in degrees uniform in ±max_rotation, scale uniform in scale_range, shift in pixels
    uniform in ±max_shift; all zero/one gives the plain MNIST-style rendering.
    """
    n = images.shape[0]
    angle = np.radians(rng.uniform(-max_rotation, max_rotation, n))
    scale = rng.uniform(*scale_range, n)
    shift = rng.uniform(-max_shift, max_shift, (n, 2)) * 2.0 / CANVAS
    # affine_grid maps output coordinates to input ones: v = (CANVAS/BOX) · (sR)⁻¹ (u − t)
    cos, sin = np.cos(angle) / scale, np.sin(angle) / scale
    inverse = np.stack([np.stack([cos, sin], -1), np.stack([-sin, cos], -1)], -2) * (CANVAS / BOX)
    offset = -np.einsum("nij,nj->ni", inverse, shift)
    theta = torch.as_tensor(np.concatenate([inverse, offset[:, :, None]], axis=2), dtype=torch.float32)
    source = torch.as_tensor(images, dtype=torch.float32).unsqueeze(1)
    grid = F.affine_grid(theta, [n, 1, CANVAS, CANVAS], align_corners=False)
    out = F.grid_sample(source, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return out.squeeze(1).clamp_(0.0, 1.0).numpy()


def blend_with_photos(
    digits: np.ndarray, photos: list[np.ndarray], intensity: float, rng: np.random.Generator
) -> np.ndarray:
    """(N, 28, 28) digits in [0, 1] → (N, 3, 28, 28): ``|intensity · patch − digit|`` per channel.

    ``photos`` are (H, W, 3) float arrays in [0, 1], each at least 28×28.
    """
    n, height, width = digits.shape
    which = rng.integers(len(photos), size=n)
    patches = np.empty((n, height, width, 3), dtype=np.float32)
    for index, photo in enumerate(photos):
        rows = np.flatnonzero(which == index)
        top = rng.integers(photo.shape[0] - height + 1, size=rows.size)
        left = rng.integers(photo.shape[1] - width + 1, size=rows.size)
        ys = top[:, None, None] + np.arange(height)[None, :, None]
        xs = left[:, None, None] + np.arange(width)[None, None, :]
        patches[rows] = photo[ys, xs]
    blended = np.abs(intensity * patches - digits[..., None])
    return np.ascontiguousarray(blended.transpose(0, 3, 1, 2))


def sklearn_photos() -> list[np.ndarray]:
    """scikit-learn's two bundled sample photos (china, flower) as float (H, W, 3) in [0, 1]; offline."""
    from sklearn.datasets import load_sample_images

    return [image.astype(np.float32) / 255.0 for image in load_sample_images().images]


def folder_photos(folder: str) -> list[np.ndarray]:
    """Every image file (recursively) under ``folder`` as float RGB (H, W, 3) in [0, 1]."""
    from PIL import Image

    root = Path(folder)
    if not root.is_dir():
        raise FileNotFoundError(f"backgrounds folder not found: '{folder}'")
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in PHOTO_SUFFIXES)
    photos = []
    for path in files:
        with Image.open(path) as image:
            photo = np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0
        if photo.shape[0] >= CANVAS and photo.shape[1] >= CANVAS:
            photos.append(photo)
    if not photos:
        raise ValueError(
            f"backgrounds folder '{folder}' has no image at least {CANVAS}×{CANVAS} ({', '.join(PHOTO_SUFFIXES)})"
        )
    return photos


def gray_to_rgb(images: np.ndarray) -> np.ndarray:
    """(N, H, W) → (N, 3, H, W) by replicating the gray channel (so one backbone serves both domains)."""
    return np.ascontiguousarray(np.repeat(images[:, None], 3, axis=1))

