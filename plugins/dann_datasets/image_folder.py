"""``image-folder``: source and target image folders in the ImageFolder / Office-31 layout.

Each root has one sub-folder per class with the same class names in both domains, e.g.
``office31/amazon/images/back_pack/frame_0001.jpg``. Images are read with Pillow, converted to RGB
and resized to ``size``×``size``. Target labels are only used for reporting (target_test) and by the
target-oracle method.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from dann_core.specs import DomainData

from . import _common
from ._common import generator, permutation_split, split

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm")


def make_image_folder(
    seed: int,
    source: Path | None = None,
    target: Path | None = None,
    target_test: Path | None = None,
    size: int = 128,
    val_fraction: float = 0.1,
    standardize: str = "source",
) -> DomainData:
    """Images from class sub-folders (ImageFolder / Office-31 layout): source root → target root.

    Options:
      source: source root folder (one sub-folder per class; required).
      target: target root folder with the same class sub-folders (required).
      target_test: optional separate labelled target test root; default: the target images.
      size: images are resized to size×size RGB (use 224 for ImageNet-style ResNets).
      val_fraction: share of source images held out as source_val.
      standardize: source | domain | none, per-channel standardisation (see _common.STANDARDIZE_MODES).
    """
    if not source or not target:
        raise ValueError("image-folder dataset needs the options source=<folder> and target=<folder>")
    if size < 1:
        raise ValueError(f"image-folder: size must be at least 1, got {size}")
    class_names = _class_names(str(source))
    for other in (target, target_test):
        if other:
            _check_same_classes(str(source), class_names, str(other), _class_names(str(other)))
    xs, ys = _read_images(str(source), class_names, size)
    xt, yt = _read_images(str(target), class_names, size)
    keep, held_out = permutation_split(len(ys), val_fraction, generator(seed, 0))
    test_x, test_y = _read_images(str(target_test), class_names, size) if target_test else (xt, yt)
    data = DomainData(
        source_train=split(xs[keep], ys[keep]),
        source_val=split(xs[held_out], ys[held_out]),
        target_train=split(xt, yt),
        target_test=split(test_x, test_y),
        num_classes=len(class_names),
        input_shape=(3, size, size),
        class_names=class_names,
    )
    return _common.standardize(data, standardize)


def _class_names(root: str) -> list[str]:
    folder = Path(root)
    if not folder.is_dir():
        raise FileNotFoundError(f"image-folder: no such folder '{root}'")
    names = sorted(entry.name for entry in folder.iterdir() if entry.is_dir() and not entry.name.startswith("."))
    if not names:
        raise ValueError(f"image-folder: '{root}' has no class sub-folders (expected <root>/<class>/<image>)")
    return names


def _check_same_classes(source: str, source_names: list[str], other: str, other_names: list[str]) -> None:
    if source_names == other_names:
        return
    only_source = sorted(set(source_names) - set(other_names))
    only_other = sorted(set(other_names) - set(source_names))
    raise ValueError(
        f"image-folder: class folders differ between '{source}' and '{other}': "
        f"only in source: {', '.join(only_source) or '-'}; only in the other: {', '.join(only_other) or '-'}"
    )


def _read_images(root: str, class_names: list[str], size: int) -> tuple[np.ndarray, np.ndarray]:
    from PIL import Image

    images, labels = [], []
    for label, name in enumerate(class_names):
        files = sorted(p for p in (Path(root) / name).rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        for path in files:
            try:
                with Image.open(path) as image:
                    rgb = image.convert("RGB").resize((size, size), Image.BILINEAR)
            except OSError as exc:
                raise ValueError(f"image-folder: cannot read image '{path}': {exc}") from None
            images.append(np.asarray(rgb, dtype=np.uint8))
            labels.append(label)
    if not images:
        raise ValueError(f"image-folder: no images ({', '.join(IMAGE_SUFFIXES)}) under '{root}'")
    x = np.stack(images).transpose(0, 3, 1, 2).astype(np.float32) / 255.0
    return x, np.asarray(labels, dtype=np.int64)
