"""``image-folder``: source and target image folders in the ImageFolder / Office-31 layout, read on demand.

Each root has one sub-folder per class, e.g. ``office31/amazon/images/back_pack/frame_0001.jpg``.
Building the dataset only lists and header-checks the files; images are decoded with Pillow when
read (by DataLoader workers), so memory does not grow with the number of images. Several source
roots (``source=A,B``) make a multi-source problem (one domain label per source). Target labels are
only used for reporting (target_test) and by the target-oracle method.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import torch

from dann_core.specs import DomainData, Split

from ._common import generator, permutation_split
from ._image_decode import AUGMENTS, Transform, parse_background
from ._image_rows import ImageRows, sample_stats
from ._image_scan import class_folders, list_images
from ._normalize import Normalizer
from ._row_cache import CACHE_KINDS

CLASS_MODES = ("same", "intersection")
STATS_SAMPLE = 256
"""Source training images the dataset statistics are estimated from (normalize=dataset)."""


def default_workers() -> int:
    return min(8, os.cpu_count() or 1)


def make_image_folder(
    seed: int,
    source: Path | None = None,
    target: Path | None = None,
    target_test: Path | None = None,
    size: int = 224,
    resize: int = 0,
    augment: str = "standard",
    normalize: str = "auto",
    val_fraction: float = 0.1,
    classes: str = "same",
    background: str = "white",
    skip_unreadable: bool = False,
    workers: int = -1,
    cache: str = "none",
    cache_dir: Path | None = None,
) -> DomainData:
    """Images from class sub-folders (ImageFolder / Office-31 layout), decoded on demand: source → target.

    Options:
      source: source root folder (one sub-folder per class; required); A,B,... for several source domains.
      target: target root folder with the same class sub-folders (required).
      target_test: optional separate labelled target test root; default: the target images (transductive: the
        accuracy is then measured on the images trained on without labels, and a line on stderr says so).
      size: side of the square crop the networks see (224 for ImageNet-style ResNets).
      resize: shorter side an image is resized to before the centre crop; 0 = round(size·256/224).
      augment: standard (training reads: random resized crop + horizontal flip) | none.
      normalize: auto (the backbone's normalisation, else dataset) | dataset (source statistics) | imagenet | none.
      val_fraction: share of each source domain's images held out as source_val.
      classes: same (class folders must match) | intersection (keep the classes every root has).
      background: colour transparent pixels are composited on: white | black | r,g,b.
      skip_unreadable: skip files that cannot be read (counted on stderr) instead of failing.
      workers: DataLoader processes decoding images; -1 = min(8, CPU count), 0 = in the main process.
      cache: none | memory | disk: keep evaluation-transform uint8 rows once decoded.
      cache_dir: folder of the disk cache; default $XDG_CACHE_HOME/dann/image-rows (or ~/.cache/dann/...).
    """
    if not source or not target:
        raise ValueError("image-folder dataset needs the options source=<folder> and target=<folder>")
    transform = _transform(size, resize, augment, background)
    _check_choice("classes", classes, CLASS_MODES)
    _check_choice("cache", cache, CACHE_KINDS)
    workers = default_workers() if workers < 0 else int(workers)
    sources = split_roots(source)
    class_names = _common_classes(sources, [str(target)] + ([str(target_test)] if target_test else []), classes)

    source_list = list_images(sources, class_names, "source", skip_unreadable, require_every_class=True)
    target_list = list_images([str(target)], class_names, "target", skip_unreadable, require_every_class=False)
    keep, held_out = _hold_out(source_list.root_index, val_fraction, seed)
    rows = {}

    def estimate():
        return sample_stats(rows["source"].subset(keep), STATS_SAMPLE, generator(seed, 7))

    normalizer = Normalizer(normalize, estimate)
    rows["source"] = ImageRows(source_list, transform, normalizer, workers, cache, cache_dir)
    target_rows = ImageRows(target_list, transform, normalizer, workers, cache, cache_dir)
    test_rows = target_rows
    if not target_test:
        print(f"image-folder: no target_test folder, so target test accuracy is measured on the {len(target_list)} target "
              "images the run trains on without their labels (transductive, as in the DANN paper's Office-31 runs); "
              "set dataset.target_test=<folder> to report on held-out target images", file=sys.stderr)
    if target_test:
        test_list = list_images([str(target_test)], class_names, "target_test", skip_unreadable, require_every_class=False)
        test_rows = ImageRows(test_list, transform, normalizer, workers, cache, cache_dir)
    source_y = rows["source"].labels
    many = len(sources) > 1
    return DomainData(
        source_train=Split(rows["source"].subset(keep), source_y[keep]),
        source_val=Split(rows["source"].subset(held_out), source_y[held_out]),
        target_train=Split(target_rows, target_rows.labels),
        target_test=Split(test_rows, test_rows.labels),
        num_classes=len(class_names),
        input_shape=(3, transform.size, transform.size),
        class_names=class_names,
        domains=torch.from_numpy(source_list.root_index[keep].astype(np.int64)) if many else None,
        num_source_domains=len(sources),
    )


def split_roots(source) -> list[str]:
    """``A,B,...`` as a list of folders (``~`` expanded); one folder unless it holds commas."""
    text = str(source)
    if "," not in text or Path(text).is_dir():
        return [text]
    parts = [os.path.expanduser(part.strip()) for part in text.split(",") if part.strip()]
    if len(set(parts)) != len(parts):
        raise ValueError(f"image-folder: source lists a folder twice: '{text}'")
    return parts


def _transform(size: int, resize: int, augment: str, background: str) -> Transform:
    if size < 1:
        raise ValueError(f"image-folder: size must be at least 1, got {size}")
    resize = int(resize) or round(size * 256 / 224)
    if resize < size:
        raise ValueError(f"image-folder: resize ({resize}) must be at least size ({size}); 0 = round(size·256/224)")
    _check_choice("augment", augment, AUGMENTS)
    return Transform(int(size), resize, augment, parse_background(background))


def _check_choice(option: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"image-folder: {option} must be one of {', '.join(choices)}, got '{value}'")


def _common_classes(sources: list[str], others: list[str], mode: str) -> list[str]:
    """The class names every root shares: all equal (``same``) or their intersection, at least two."""
    found = {root: class_folders(root) for root in [*sources, *others]}
    first = sources[0]
    if mode == "same":
        for root, names in found.items():
            if names != found[first]:
                _check_domains_given(found)
            _check_same_classes(first, found[first], root, names)
        return found[first]
    common = sorted(set.intersection(*(set(names) for names in found.values())))
    every = set().union(*(set(names) for names in found.values()))
    if len(common) < 2:
        _check_domains_given(found)
        raise ValueError(f"image-folder: the roots share {len(common)} class folder(s) ({', '.join(common) or '-'}); need at least two")
    if len(every) > len(common):
        print(f"image-folder: classes=intersection keeps {len(common)} classes, dropped {len(every) - len(common)}: "
              f"{', '.join(sorted(every - set(common)))}", file=sys.stderr)
    return common


def _check_domains_given(found: dict[str, list[str]]) -> None:
    """ValueError when a root whose classes disagree with the others is a folder of domains (Office-31's
    ``office31/`` instead of ``office31/amazon/images``): its sub-folders each hold the same class folders."""
    for root in found:
        inner = _domain_class_roots(Path(root))
        if inner:
            names = ", ".join(folder.relative_to(root).parts[0] for folder in inner)
            raise ValueError(
                f"image-folder: '{root}' holds domains ({names}), each with the same class folders, not classes: "
                f"give one domain's class-folder root, e.g. '{inner[0]}' (several source domains: source=A,B)"
            )


def _domain_class_roots(root: Path) -> list[Path]:
    """The class-folder roots of the domains inside ``root`` (each sub-folder, through single wrapper
    folders such as Office-31's ``images/``), when at least two share two or more class names; else []."""
    def subfolders(folder: Path) -> list[str]:
        try:
            return sorted(e.name for e in folder.iterdir() if e.is_dir() and not e.name.startswith("."))
        except OSError:
            return []

    inner = []
    for name in subfolders(root):
        folder = root / name
        names = subfolders(folder)
        for _ in range(3):  # amazon/images/<class>
            if len(names) != 1:
                break
            folder = folder / names[0]
            names = subfolders(folder)
        if len(names) >= 2:
            inner.append((folder, set(names)))
    if len(inner) < 2 or len(set.intersection(*(names for _, names in inner))) < 2:
        return []
    return [folder for folder, _ in inner]


def _check_same_classes(source: str, source_names: list[str], other: str, other_names: list[str]) -> None:
    if source_names == other_names:
        return
    only_source = sorted(set(source_names) - set(other_names))
    only_other = sorted(set(other_names) - set(source_names))
    raise ValueError(
        f"image-folder: class folders differ between '{source}' and '{other}': "
        f"only in source: {', '.join(only_source) or '-'}; only in the other: {', '.join(only_other) or '-'}; "
        f"set classes=intersection to keep the common ones"
    )


def _hold_out(domain_of_row: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(kept, held-out) source rows: ``fraction`` of each source domain held out as source_val."""
    kept, held = [], []
    for domain in np.unique(domain_of_row):
        rows = np.flatnonzero(domain_of_row == domain)
        if len(rows) < 2:
            raise ValueError(f"image-folder: source domain {int(domain)} has {len(rows)} image(s); need at least two to hold some out")
        keep, out = permutation_split(len(rows), fraction, generator(seed, int(domain)))
        kept.append(rows[keep])
        held.append(rows[out])
    return np.concatenate(kept), np.concatenate(held)
