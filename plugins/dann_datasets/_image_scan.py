"""Listing an image-folder root without decoding: class folders, their files, cheap header checks.

Every mistake that would otherwise train silently on the wrong problem is a one-line ValueError: a
domain root given instead of its inner class-folder root, fewer than two classes, an empty source
class, unreadable files (all named, with the reason).
"""
from __future__ import annotations

import os
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm")
_END_MARKERS = {"JPEG": (b"\xff\xd9",), "PNG": (b"IEND\xaeB`\x82",)}
"""What the last bytes of a complete file hold (a truncated download lacks them)."""


@dataclass
class Listing:
    """The images of one or more roots: paths (bytes, relative to their root) with labels and stats."""

    roots: list[str]
    root_index: np.ndarray  # int16: which root each file is under
    files: np.ndarray  # bytes paths relative to their root (one compact array, cheap to fork)
    labels: np.ndarray  # int64
    stamps: np.ndarray  # int64 (size, mtime_ns) per file, for the cache key

    def __len__(self) -> int:
        return len(self.files)

    def path(self, index: int) -> str:
        return os.path.join(self.roots[int(self.root_index[index])], os.fsdecode(self.files[index]))


def class_folders(root: str) -> list[str]:
    """The sorted class sub-folders of ``root``; errors for a missing root, a domain root one level too high,
    and fewer than two classes."""
    folder = Path(root)
    if not folder.is_dir():
        raise FileNotFoundError(f"image-folder: no such folder '{root}'")
    names = _subfolders(folder)
    if len(names) == 1 and _subfolders(folder / names[0]):
        inner = folder / names[0]
        raise ValueError(
            f"image-folder: '{root}' holds a single folder '{names[0]}' whose sub-folders look like the classes; "
            f"point at '{inner}' instead"
        )
    if len(names) < 2:
        found = f"only '{names[0]}'" if names else "none"
        raise ValueError(f"image-folder: '{root}' must hold at least two class sub-folders (<root>/<class>/<image>), found {found}")
    return names


def _subfolders(folder: Path) -> list[str]:
    return sorted(entry.name for entry in folder.iterdir() if entry.is_dir() and not entry.name.startswith("."))


def class_files(root: str, name: str) -> list[str]:
    """Image files under ``root/name`` (recursively), sorted, as paths relative to ``root``."""
    base = Path(root)
    found = [p for p in (base / name).rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()]
    return sorted(str(p.relative_to(base)) for p in found)


def list_images(roots: list[str], class_names: list[str], role: str, skip_unreadable: bool, require_every_class: bool) -> Listing:
    """Every image of ``class_names`` under each of ``roots``, header-checked in a thread pool."""
    paths, root_index, labels = [], [], []
    for r, root in enumerate(roots):
        for label, name in enumerate(class_names):
            files = class_files(root, name)
            if not files and require_every_class:
                raise ValueError(
                    f"image-folder: {role} class '{name}' has no images under '{Path(root) / name}' "
                    f"(its class could never be learnt); add images or remove the folder"
                )
            paths += files
            root_index += [r] * len(files)
            labels += [label] * len(files)
    if not paths:
        raise ValueError(f"image-folder: no images ({', '.join(IMAGE_SUFFIXES)}) under {' or '.join(repr(r) for r in roots)}")
    full = [os.path.join(roots[r], p) for r, p in zip(root_index, paths)]
    checks = _check_all(full)
    bad = [(path, problem) for path, (problem, _) in zip(full, checks) if problem]
    if bad and not skip_unreadable:
        listed = "; ".join(f"{path} ({problem})" for path, problem in bad)
        raise ValueError(f"image-folder: {len(bad)} unreadable {role} image(s): {listed}; fix or delete them, or set skip_unreadable=true")
    if bad:
        print(f"image-folder: skipped {len(bad)} unreadable {role} image(s) (first: {bad[0][0]}: {bad[0][1]})", file=sys.stderr)
    keep = [i for i, (problem, _) in enumerate(checks) if not problem]
    return Listing(
        roots=list(roots),
        root_index=np.asarray([root_index[i] for i in keep], dtype=np.int16),
        files=np.asarray([os.fsencode(paths[i]) for i in keep], dtype=np.bytes_),
        labels=np.asarray([labels[i] for i in keep], dtype=np.int64),
        stamps=np.asarray([checks[i][1] for i in keep], dtype=np.int64).reshape(-1, 2),
    )


def _check_all(paths: list[str]) -> list[tuple[str | None, tuple[int, int]]]:
    with ThreadPoolExecutor(max_workers=min(32, 4 * (os.cpu_count() or 1))) as pool:
        return list(pool.map(check_file, paths, chunksize=64))


def check_file(path: str) -> tuple[str | None, tuple[int, int]]:
    """(the problem or None, (size, mtime_ns)): the header identifies an image and a JPEG/PNG is not cut short."""
    from PIL import Image

    try:
        stat = os.stat(path)
        with Image.open(path) as image:
            kind = image.format
            if image.size[0] < 1 or image.size[1] < 1:
                return "has no pixels", (0, 0)
        markers = _END_MARKERS.get(kind)
        if markers:
            with open(path, "rb") as file:
                file.seek(max(0, stat.st_size - 64))
                tail = file.read()
            if not any(marker in tail for marker in markers):
                with Image.open(path) as image:  # rare (trailing bytes after the end): decode to be sure
                    image.load()
        return None, (stat.st_size, stat.st_mtime_ns)
    except Exception as exc:  # noqa: BLE001 - any failure to open is the file's problem, named in the error
        return _reason(exc), (0, 0)


def _reason(exc: Exception) -> str:
    text = str(exc).split(": '")[0].splitlines()[0] if str(exc) else type(exc).__name__
    return text.replace(";", ",")
