"""``npz``: your own arrays, from one ``.npz`` file (``numpy.savez``).

Keys (N rows each; per-example shapes of all x arrays must match):

- required: ``xs`` (source inputs), ``ys`` (source labels, integers in [0, num_classes)),
  ``xt`` (target inputs);
- optional: ``yt`` (target labels, one per ``xt`` row: reported on target_test when no separate
  test set is given, and used by the target-oracle method), ``xt_test`` + ``yt_test`` (a separate
  labelled target test set), ``xs_val`` + ``ys_val`` (a source validation set; otherwise
  ``val_fraction`` of the source rows are held out), ``ds`` (multi-source: the source domain of each
  ``xs`` row, integers 0..K-1; K > 1 makes training K+1-way, the target being domain K).

Without ``yt`` and ``xt_test``, target_test is ``xt`` with ``y = None``: training works, but no
target accuracy can be reported.

Large files stream: with ``stream=auto`` (the default), input arrays stored uncompressed
(``numpy.savez``) and larger than 1 GiB together are memory-mapped and their rows read by DataLoader
workers instead of being loaded into memory (``stream=on`` always, ``off`` never).
"""
from __future__ import annotations

import zipfile
import zlib
from pathlib import Path

import numpy as np
import torch

from dann_core.specs import DomainData, Split

from ._common import STANDARDIZE_MODES, generator, permutation_split, split
from ._npz_rows import ArrayRows, chunked_channel_stats, memmap_members

REQUIRED_KEYS = ("xs", "ys", "xt")
OPTIONAL_KEYS = ("yt", "xt_test", "yt_test", "xs_val", "ys_val", "ds")
_PAIRS = (("xt_test", "yt_test"), ("xs_val", "ys_val"))
ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
STREAM_MODES = ("auto", "on", "off")
STREAM_ABOVE_BYTES = 1 << 30
"""``stream=auto`` memory-maps the input arrays when they are larger than this together."""
MAX_CLASSES = 100_000
"""Labels are class indices 0..C-1; a larger C is a mislabelled file (C = 10⁹ would allocate a 60 GB head)."""


def make_npz(
    seed: int,
    path: Path | None = None,
    val_fraction: float = 0.1,
    num_classes: int = 0,
    stream: str = "auto",
    workers: int = 2,
    standardize: str = "none",
) -> DomainData:
    """Your arrays from a .npz file: required xs, ys, xt; optional yt, xt_test+yt_test, xs_val+ys_val, ds.

    Options:
      path: the .npz file (required).
      val_fraction: share of source rows held out as source_val when xs_val/ys_val are absent.
      num_classes: number of classes; 0 infers it as 1 + the largest label found.
      stream: auto (memory-map uncompressed inputs over 1 GiB and read rows on demand) | on | off.
      workers: DataLoader processes reading the rows of a streamed file.
      standardize: none | source | domain: per-channel (dim 1: a feature of tabular rows, a channel
        of images) standardisation by source_train's statistics (source), or each domain by its own
        training split's (domain: source by source_train's, target by xt's; no target label is read).
        A channel constant in those rows is centred only.
    """
    if stream not in STREAM_MODES:
        raise ValueError(f"npz dataset option stream must be one of {', '.join(STREAM_MODES)}, got '{stream}'")
    if standardize not in STANDARDIZE_MODES:
        raise ValueError(f"npz dataset option standardize must be one of {', '.join(STANDARDIZE_MODES)}, got '{standardize}'")
    if workers < 0:
        raise ValueError(f"npz dataset option workers must be 0 or more, got {workers}")
    arrays, streamed = _load(path, stream)
    x_shape = _check_inputs(arrays, path)
    labels = {key: _check_labels(arrays, key, x_key, path) for key, x_key in _label_keys(arrays)}
    source_domains = _check_labels(arrays, "ds", "xs", path) if "ds" in arrays else None
    if not 0 <= num_classes <= MAX_CLASSES:
        raise ValueError(f"npz dataset option num_classes must be 0 (infer) .. {MAX_CLASSES}, got {num_classes}")
    largest = max(int(values.max()) for values in labels.values() if values.size)
    num_classes = num_classes or largest + 1
    for key, values in labels.items():
        if values.size and values.max() >= num_classes:
            raise ValueError(f"npz '{path}': key '{key}' has label {int(values.max())} >= num_classes {num_classes}")

    if "xs_val" in arrays:
        keep, held_out = np.arange(len(labels["ys"])), None
    else:
        keep, held_out = permutation_split(len(labels["ys"]), val_fraction, generator(seed, 0))
    stats = {"source": None, "target": None}
    if standardize != "none":  # source_train's rows, and the unlabelled target rows (xt)
        stats["source"] = chunked_channel_stats(arrays["xs"], keep)
        stats["target"] = chunked_channel_stats(arrays["xt"], None) if standardize == "domain" else stats["source"]

    def part(key, rows=None, y=None):
        domain_stats = stats["source" if key.startswith("xs") else "target"]
        if key in streamed:
            return Split(ArrayRows(arrays[key], rows, workers, domain_stats), None if y is None else torch.as_tensor(y))
        made = split(arrays[key] if rows is None else arrays[key][rows], y)
        if domain_stats is not None:
            mean, std = domain_stats
            made.x = ((made.x - mean) / std).contiguous()
        return made

    if "xs_val" in arrays:
        source_val = part("xs_val", None, labels["ys_val"])
    else:
        source_val = part("xs", held_out, labels["ys"][held_out])
    source_train = part("xs", keep, labels["ys"][keep])
    if "xt_test" in arrays:
        target_test = part("xt_test", None, labels["yt_test"])
    else:
        target_test = part("xt", None, labels.get("yt"))
    return DomainData(
        source_train=source_train,
        source_val=source_val,
        target_train=part("xt", None, labels.get("yt")),
        target_test=target_test,
        num_classes=int(num_classes),
        input_shape=x_shape,
        domains=None if source_domains is None else torch.as_tensor(source_domains[keep]),
        num_source_domains=1 if source_domains is None else int(source_domains.max()) + 1,
    )


def _streamed_keys(file: Path, stream: str) -> list[str]:
    """The input members to memory-map as ``stream`` asks (auto: all stored uncompressed and large)."""
    if stream == "off":
        return []
    with zipfile.ZipFile(file) as archive:
        infos = {name.removesuffix(".npy"): archive.getinfo(name) for name in archive.namelist()}
    keys = [key for key in ("xs", "xt", "xt_test", "xs_val") if key in infos]
    if stream == "auto":
        stored = all(infos[key].compress_type == zipfile.ZIP_STORED for key in keys)
        if not stored or sum(infos[key].file_size for key in keys) <= STREAM_ABOVE_BYTES:
            return []
    return keys


def _load(path: str | None, stream: str = "off") -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """(every array: memory maps for the streamed inputs, in memory otherwise; the streamed ones)."""
    if path is None or str(path) == "":
        raise ValueError(
            "npz dataset needs the option path=<file.npz> (keys: xs, ys, xt; optional yt, xt_test, yt_test, xs_val, ys_val)"
        )
    file = Path(str(path))
    if file.is_dir():
        raise ValueError(f"npz dataset: '{file}' is a directory; give the path of a .npz file")
    if not file.is_file():
        if file.exists():  # a FIFO, a socket or a device: reading it would block or never end
            raise ValueError(f"npz dataset: '{file}' is {_kind_of(file)}, not a file; give the path of a .npz file")
        raise FileNotFoundError(f"npz dataset: no such file '{file}'")
    not_npz = f"npz dataset: '{file}' is not a .npz archive (numpy.savez / savez_compressed writes one)"
    with file.open("rb") as handle:
        magic = handle.read(4)
    if magic == b"\x93NUM":
        raise ValueError(f"{not_npz}: it is a single .npy array; save the arrays with numpy.savez(path, xs=..., ys=..., xt=...)")
    if magic not in ZIP_MAGIC:
        raise ValueError(f"{not_npz}: it is {'empty' if not magic else 'some other kind of file'}")
    try:
        skipped = _streamed_keys(file, stream)
        with np.load(file, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files if key not in skipped}
    except ValueError as exc:
        if "pickle" in str(exc):  # an array of Python objects: allow_pickle stays off
            raise ValueError(f"npz dataset: '{file}' holds a non-numeric (pickled) array; save plain numeric arrays") from None
        raise ValueError(f"{not_npz}: a member is not a valid .npy array ({str(exc).splitlines()[0]})") from None
    except (OSError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
        reason = (str(exc).splitlines() or [type(exc).__name__])[0]
        raise ValueError(f"{not_npz}: it is truncated or corrupt ({reason})") from None
    streamed = memmap_members(file, skipped)
    arrays.update(streamed)
    missing = [key for key in REQUIRED_KEYS if key not in arrays]
    if missing:
        raise ValueError(
            f"npz '{path}' lacks required key '{missing[0]}' (required: {', '.join(REQUIRED_KEYS)}; "
            f"optional: {', '.join(OPTIONAL_KEYS)}; found: {', '.join(sorted(arrays)) or 'none'})"
        )
    unknown = sorted(set(arrays) - set(REQUIRED_KEYS) - set(OPTIONAL_KEYS))
    if unknown:
        raise ValueError(
            f"npz '{path}' has unknown key '{unknown[0]}' (valid: {', '.join(REQUIRED_KEYS + OPTIONAL_KEYS)})"
        )
    for first, second in _PAIRS:
        if (first in arrays) != (second in arrays):
            given, absent = (first, second) if first in arrays else (second, first)
            raise ValueError(f"npz '{path}' has '{given}' but not '{absent}'; give both or neither")
    return arrays, streamed


def _check_inputs(arrays: dict[str, np.ndarray], path) -> tuple[int, ...]:
    x_keys = [key for key in ("xs", "xt", "xt_test", "xs_val") if key in arrays]
    for key in x_keys:
        values = arrays[key]
        if values.dtype.kind not in "fiub":
            raise ValueError(f"npz '{path}': key '{key}' must be a numeric array, got dtype {values.dtype}")
        if values.ndim < 2 or values.shape[0] == 0:
            raise ValueError(f"npz '{path}': key '{key}' must have shape (N>0, ...features), got {values.shape}")
        if values.dtype.kind == "f" and not _all_finite(values):
            raise ValueError(f"npz '{path}': key '{key}' contains NaN or infinite values")
    shape = arrays["xs"].shape[1:]
    for key in x_keys[1:]:
        if arrays[key].shape[1:] != shape:
            raise ValueError(
                f"npz '{path}': key '{key}' has per-example shape {arrays[key].shape[1:]} but 'xs' has {shape}"
            )
    return tuple(int(size) for size in shape)


def _all_finite(values: np.ndarray, chunk_bytes: int = 64 << 20) -> bool:
    """np.isfinite(values).all() a chunk of rows at a time (a memory-mapped array is never held whole)."""
    rows = max(1, chunk_bytes // max(1, values[:1].nbytes))
    return all(np.isfinite(values[start : start + rows]).all() for start in range(0, len(values), rows))


def _label_keys(arrays: dict[str, np.ndarray]):
    for y_key, x_key in (("ys", "xs"), ("yt", "xt"), ("yt_test", "xt_test"), ("ys_val", "xs_val")):
        if y_key in arrays:
            yield y_key, x_key


def _check_labels(arrays: dict[str, np.ndarray], key: str, x_key: str, path) -> np.ndarray:
    values = arrays[key]
    rows = arrays[x_key].shape[0]
    integral = values.dtype.kind in "iu" or (
        values.dtype.kind == "f" and np.isfinite(values).all() and (values == np.round(values)).all()
    )
    if not integral or values.shape != (rows,):
        raise ValueError(
            f"npz '{path}': key '{key}' must be 1-D integer labels, one per row of '{x_key}' "
            f"(shape ({rows},)), got {values.dtype} {values.shape}"
        )
    if values.size and values.min() < 0:
        raise ValueError(f"npz '{path}': key '{key}' has negative label {int(values.min())}; labels must be >= 0")
    if values.size and values.max() >= MAX_CLASSES:  # before the int64 cast: uint64 ≥ 2⁶³ would wrap negative
        raise ValueError(
            f"npz '{path}': key '{key}' has label {int(values.max())}; labels are indices 0..C-1 with C ≤ {MAX_CLASSES}: renumber them"
        )
    return values.astype(np.int64)


def _kind_of(path: Path) -> str:
    """What a path that exists but is not a regular file or a directory is, in words."""
    import stat

    mode = path.stat().st_mode
    for test, words in ((stat.S_ISFIFO, "a named pipe (FIFO)"), (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a character device"),
                        (stat.S_ISBLK, "a block device")):
        if test(mode):
            return words
    return "a special file"
