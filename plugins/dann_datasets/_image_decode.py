"""Decoding one image file to a uint8 ``3×size×size`` row: mode conversion and the two transforms.

- :func:`to_rgb`: any Pillow mode to 8-bit RGB: 16/32-bit gray scaled down (not clipped), transparency
  composited on a background colour, CMYK / palette / gray converted.
- :class:`Transform`: ``resize`` the shorter side then centre-crop ``size`` (evaluation), or with
  ``augment`` a random resized crop (torchvision's RandomResizedCrop parameters) plus a horizontal
  flip drawn from a seed (training). JPEGs are decoded at a reduced scale (``Image.draft``) when the
  output needs at most half their resolution.
"""
from __future__ import annotations

import math
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

AUGMENTS = ("none", "standard")
CROP_SCALE = (0.08, 1.0)
CROP_RATIO = (3 / 4, 4 / 3)
COLOURS = {"white": (255, 255, 255), "black": (0, 0, 0)}


def parse_background(text) -> tuple[int, int, int]:
    """``white``, ``black`` or ``r,g,b`` (0..255 each) as an RGB triple."""
    spelled = str(text).strip().lower()
    if spelled in COLOURS:
        return COLOURS[spelled]
    parts = spelled.replace(" ", "").split(",")
    if len(parts) == 3 and all(part.isdigit() and int(part) <= 255 for part in parts):
        return tuple(int(part) for part in parts)
    raise ValueError(f"image-folder: background must be white, black or r,g,b with 0..255 each, got '{text}'")


def to_rgb(image, background: tuple[int, int, int]):
    """``image`` as an 8-bit RGB Pillow image, whatever its mode."""
    from PIL import Image

    if image.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        image = Image.fromarray(_to_8_bits(np.asarray(image)), "L")
    has_alpha = image.mode in ("RGBA", "LA", "PA", "La", "RGBa") or "transparency" in image.info
    if has_alpha:
        rgba = image.convert("RGBA")
        flat = Image.new("RGBA", rgba.size, (*background, 255))
        return Image.alpha_composite(flat, rgba).convert("RGB")
    return image if image.mode == "RGB" else image.convert("RGB")


def _to_8_bits(pixels: np.ndarray) -> np.ndarray:
    """16-bit (or wider integer) gray to 0..255 by the full 16-bit range; float gray as 0..1 when it fits, else 0..255."""
    if pixels.dtype.kind == "f":
        scale = 255.0 if float(np.nanmax(pixels, initial=0.0)) <= 1.0 else 1.0
        return np.clip(np.nan_to_num(pixels) * scale + 0.5, 0, 255).astype(np.uint8)
    wide = pixels.astype(np.int64)
    return np.clip((wide + 128) // 257, 0, 255).astype(np.uint8)


@dataclass(frozen=True)
class Transform:
    """How a file becomes a row: evaluation = resize shorter side to ``resize``, centre crop ``size``;
    training (``augment`` standard, a seed given) = random resized crop to ``size`` + horizontal flip."""

    size: int
    resize: int
    augment: str = "none"
    background: tuple[int, int, int] = (255, 255, 255)

    def read(self, path: str | Path, seed: int | None = None) -> torch.Tensor:
        """The uint8 ``3×size×size`` row of ``path`` (training transform from ``seed`` when augmenting)."""
        from PIL import Image

        with Image.open(path) as image:
            width, height = image.size
            if seed is not None and self.augment == "standard":
                rng = random.Random(seed)
                box = random_crop_box(width, height, rng)
                flip = rng.random() < 0.5
            else:
                box, flip = self._centre_box(width, height), False
            box = _draft(image, box, self.size)
            rgb = to_rgb(image, self.background)
            out = rgb.resize((self.size, self.size), Image.BILINEAR, box=box)
        if flip:
            out = out.transpose(Image.FLIP_LEFT_RIGHT)
        return torch.from_numpy(np.asarray(out, dtype=np.uint8).transpose(2, 0, 1).copy())

    def _centre_box(self, width: int, height: int) -> tuple[float, float, float, float]:
        """The region of the original image that resize-then-centre-crop keeps, in original pixels."""
        scale = self.resize / min(width, height)
        side = self.size / scale  # the crop's side in original pixels
        crop_w, crop_h = min(side, width), min(side, height)
        left, top = (width - crop_w) / 2, (height - crop_h) / 2
        return left, top, left + crop_w, top + crop_h


def random_crop_box(width: int, height: int, rng: random.Random) -> tuple[float, float, float, float]:
    """torchvision's RandomResizedCrop region (scale 0.08–1, ratio 3/4–4/3), drawn from ``rng``."""
    area = width * height
    log_ratio = (math.log(CROP_RATIO[0]), math.log(CROP_RATIO[1]))
    for _ in range(10):
        target = area * rng.uniform(*CROP_SCALE)
        aspect = math.exp(rng.uniform(*log_ratio))
        w, h = round(math.sqrt(target * aspect)), round(math.sqrt(target / aspect))
        if 0 < w <= width and 0 < h <= height:
            top, left = rng.randint(0, height - h), rng.randint(0, width - w)
            return left, top, left + w, top + h
    ratio = width / height  # fallback: the largest centred crop within the ratio range
    if ratio < CROP_RATIO[0]:
        w, h = width, round(width / CROP_RATIO[0])
    elif ratio > CROP_RATIO[1]:
        w, h = round(height * CROP_RATIO[1]), height
    else:
        w, h = width, height
    left, top = (width - w) // 2, (height - h) // 2
    return left, top, left + w, top + h


def _draft(image, box, size: int):
    """Ask a JPEG to decode at 1/2, 1/4 or 1/8 scale when ``box`` still gets ``size`` pixels; ``box`` rescaled to match."""
    if image.format != "JPEG":
        return box
    width, height = image.size
    crop_w, crop_h = box[2] - box[0], box[3] - box[1]
    reduce = min(crop_w, crop_h) / size  # how much larger than needed the crop is
    if reduce < 2:
        return box
    drafted = image.draft(None, (max(1, math.floor(width / reduce)), max(1, math.floor(height / reduce))))
    if not drafted:
        return box
    scale = drafted[1][2] / width  # 1/s: decoded pixel i covers original pixels [i·s, (i+1)·s)
    return tuple(coordinate * scale for coordinate in box)
