"""``mnist`` and ``mnist-m``: MNIST from idx files in a folder you give (nothing is downloaded).

``root`` must hold the four standard files, plain or gzipped, with ``-`` or ``.`` before ``idx``:
``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte``,
``t10k-labels-idx1-ubyte``. Images are kept as uint8 (dann_core.rows.LazyRows, resident) and become
28×28 floats in [0, 1] on the training device, the gray channel replicated to 3 channels, so one
backbone serves MNIST and MNIST-M.

- ``mnist``: MNIST → MNIST (no domain shift): a sanity check where DANN should match source-only.
- ``mnist-m``: MNIST → MNIST-M built by the paper's recipe (Ganin & Lempitsky 2015): each digit
  blended with a random patch of a background photo, ``|photo − digit|`` per channel. target_train
  blends the MNIST training digits, target_test the t10k digits.
"""
from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import numpy as np
import torch

from dann_core.specs import DomainData, Split

from ._common import generator
from ._digits import blend_with_photos, folder_photos, sklearn_photos
from ._uint8_rows import as_images, standardized_rows

IDX_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
_MAGIC = {3: 0x00000803, 1: 0x00000801}


def make_mnist(
    seed: int, root: Path | None = None, n_train: int = 0, n_val: int = 5000, standardize: str = "source"
) -> DomainData:
    """MNIST → MNIST from idx files (no shift; a sanity check), 3×28×28.

    Options:
      root: folder with the four MNIST idx files, plain or .gz (required).
      n_train: use only this many training images (0 = all 60000); source_val comes out of them.
      n_val: training images held out as source_val.
      standardize: source | domain | none, per-channel standardisation (see _common.STANDARDIZE_MODES).
    """
    train, val, test = _mnist_splits(seed, root, n_train, n_val, "mnist")
    (train_x, val_x), (target_x, test_x) = standardized_rows(standardize, [train[0], val[0]], [train[0], test[0]])
    return DomainData(
        source_train=Split(train_x, train[1]),
        source_val=Split(val_x, val[1]),
        target_train=Split(target_x, train[1]),
        target_test=Split(test_x, test[1]),
        num_classes=10,
        input_shape=(3, 28, 28),
        class_names=[str(digit) for digit in range(10)],
    )


def make_mnist_m(
    seed: int,
    root: Path | None = None,
    backgrounds: Path | None = None,
    photo_intensity: float | None = None,
    n_train: int = 0,
    n_val: int = 5000,
    standardize: str = "source",
) -> DomainData:
    """MNIST → MNIST-M (the paper's recipe: |background patch − digit|), from idx files, 3×28×28.

    Options:
      root: folder with the four MNIST idx files, plain or .gz (required).
      backgrounds: folder of background photos (the paper used BSDS500); default: scikit-learn's
        two bundled sample photos.
      photo_intensity: photo scale before blending; default 1.0 (the paper) with a backgrounds
        folder, 0.5 with the sklearn photos (at full intensity their bright sky flips polarity).
      n_train: use only this many training images (0 = all 60000); source_val comes out of them.
      n_val: training images held out as source_val.
      standardize: source | domain | none, per-channel standardisation (see _common.STANDARDIZE_MODES).
    """
    train, val, test = _mnist_splits(seed, root, n_train, n_val, "mnist-m")
    photos = folder_photos(str(backgrounds)) if backgrounds else sklearn_photos()
    if photo_intensity is None:
        photo_intensity = 1.0 if backgrounds else 0.5
    if not 0.0 <= float(photo_intensity) <= 1.0:
        raise ValueError(f"mnist-m: photo_intensity must be in [0, 1], got {photo_intensity}")
    blended_train = _blend(train[0], photos, float(photo_intensity), generator(seed, 1))
    blended_test = _blend(test[0], photos, float(photo_intensity), generator(seed, 2))
    (train_x, val_x), (target_x, test_x) = standardized_rows(standardize, [train[0], val[0]], [blended_train, blended_test])
    return DomainData(
        source_train=Split(train_x, train[1]),
        source_val=Split(val_x, val[1]),
        target_train=Split(target_x, train[1]),
        target_test=Split(test_x, test[1]),
        num_classes=10,
        input_shape=(3, 28, 28),
        class_names=[str(digit) for digit in range(10)],
    )


BLEND_CHUNK = 8192
"""Digits blended at a time (bounds the float32 working copy)."""


def _blend(digits: torch.Tensor, photos, intensity: float, rng: np.random.Generator) -> torch.Tensor:
    """MNIST-M images of uint8 ``N×1×28×28`` digits, as uint8 ``N×3×28×28`` (rounded to the nearest level)."""
    out = torch.empty((len(digits), 3, *digits.shape[2:]), dtype=torch.uint8)
    for start in range(0, len(digits), BLEND_CHUNK):
        chunk = digits[start : start + BLEND_CHUNK, 0].numpy().astype(np.float32) / 255.0
        blended = blend_with_photos(chunk, photos, intensity, rng)
        out[start : start + len(chunk)] = torch.from_numpy(np.rint(blended * 255.0).astype(np.uint8))
    return out


def _mnist_splits(seed: int, root: str | None, n_train: int, n_val: int, name: str):
    """((train x, y), (val x, y), (test x, y)): images as uint8 N×1×28×28 tensors, labels int64 tensors."""
    if not root:
        raise ValueError(f"{name} dataset needs the option root=<folder with the MNIST idx files>")
    files = {key: _find_idx(str(root), stem) for key, stem in IDX_FILES.items()}
    train_x, train_y = read_idx(files["train_images"], 3), read_idx(files["train_labels"], 1)
    test_x, test_y = read_idx(files["test_images"], 3), read_idx(files["test_labels"], 1)
    for images, labels, key in ((train_x, train_y, "train"), (test_x, test_y, "test")):
        if len(images) != len(labels):
            raise ValueError(
                f"{name}: {files[key + '_images']} has {len(images)} images but its labels file has {len(labels)}"
            )
    if n_train < 0 or n_val < 1:
        raise ValueError(f"{name}: n_train must be >= 0 and n_val >= 1, got n_train={n_train} n_val={n_val}")
    order = generator(seed, 0).permutation(len(train_y))
    if n_train:
        order = order[:n_train]
    if n_val >= len(order):
        raise ValueError(f"{name}: n_val={n_val} leaves no training images out of {len(order)}")
    train_rows, val_rows = np.sort(order[n_val:]), np.sort(order[:n_val])
    return (
        (as_images(train_x[train_rows]), _labels(train_y[train_rows])),
        (as_images(train_x[val_rows]), _labels(train_y[val_rows])),
        (as_images(test_x), _labels(test_y)),
    )


def _labels(y: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(y.astype(np.int64))


def _find_idx(root: str, stem: str) -> Path:
    folder = Path(root)
    if not folder.is_dir():
        raise FileNotFoundError(f"MNIST folder not found: '{root}'")
    dotted = stem.replace("-idx", ".idx")
    for name in (stem, stem + ".gz", dotted, dotted + ".gz"):
        if (folder / name).is_file():
            return folder / name
    raise FileNotFoundError(f"MNIST file '{stem}' (or .gz) not found in '{root}'")


def read_idx(path: Path, ndim: int) -> np.ndarray:
    """An idx-format uint8 array (MNIST's file format), plain or gzipped; ``ndim`` 3 (images) or 1 (labels)."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as file:
            raw = file.read()
    except (OSError, EOFError, zlib.error) as exc:  # a cut-short .gz raises EOFError, which click reports as "Aborted!"
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ValueError(f"'{path}' is truncated or corrupt ({reason}); extract or download it again") from None
    if len(raw) < 4 + 4 * ndim or int.from_bytes(raw[:4], "big") != _MAGIC[ndim]:
        raise ValueError(f"'{path}' is not an idx file of {ndim}-d unsigned bytes (bad magic number)")
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    body = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if body.size != int(np.prod(shape)):
        raise ValueError(f"'{path}' holds {body.size} bytes of data but its header says shape {shape}")
    return body.reshape(shape).copy()
