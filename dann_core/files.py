"""The one atomic writer: a run's files are never half-written.

:func:`atomic_write` writes to a temporary file in the destination's directory, fsyncs it, renames it
over the destination with ``os.replace`` (atomic on POSIX) and fsyncs the directory. A crash at any
point leaves either the previous file or the new one, never a torn one, and no temporary file
(except after SIGKILL, which no handler sees: such leftovers are named ``.NAME.*.tmp`` and
:func:`sweep_temporaries` removes them). A failed write raises OSError naming the destination.
"""
from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path
from typing import IO, Any, Callable


def atomic_write(path: str | Path, write: Callable[[IO[bytes]], None]) -> None:
    """Replace ``path`` with what ``write(file)`` writes to a binary file, atomically."""
    path = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise name_file(exc, path) from None
    try:
        with os.fdopen(fd, "wb") as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise name_file(exc, path) from None
        raise
    fsync_dir(path.parent)


def name_file(exc: OSError, path: str | Path) -> OSError:
    """``exc`` with ``filename`` set to ``path`` (a write to an open file raises OSError naming nothing)."""
    if exc.strerror is not None:  # otherwise str(exc) would read "[Errno None] None: path"
        exc.filename = str(path)
    return exc


def sweep_temporaries(directory: str | Path, names) -> list[Path]:
    """Remove the ``.NAME.*.tmp`` files a killed :func:`atomic_write` of ``directory/NAME`` left; returns them."""
    directory = Path(directory)
    pattern = re.compile("|".join(rf"\.{re.escape(name)}\.[^/]+\.tmp" for name in names))
    removed = [path for path in directory.iterdir() if path.is_file() and pattern.fullmatch(path.name)]
    for path in removed:
        path.unlink(missing_ok=True)
    return removed


def write_json(data: Any, path: str | Path) -> None:
    """Write ``data`` as indented JSON, replacing ``path`` atomically."""
    text = (json.dumps(data, indent=2) + "\n").encode()
    atomic_write(path, lambda file: file.write(text))


def write_text(text: str, path: str | Path) -> None:
    atomic_write(path, lambda file: file.write(text.encode()))


class CorruptFileError(ValueError):
    """A file dann wrote that cannot be read back; the message names it and what to do."""


def read_json(path: str | Path, advice: str = "delete it or restore it from a copy") -> Any:
    """The JSON in ``path``; :class:`CorruptFileError` naming the file and ``advice`` when it is not JSON."""
    path = Path(path)
    try:
        return json.loads(path.read_bytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        reason = str(exc).splitlines()[0]
        raise CorruptFileError(f"{path} is corrupt (not JSON: {reason}); {advice}") from None


def fsync_dir(directory: str | Path) -> None:
    """Make a rename inside ``directory`` durable (no-op where directories cannot be opened)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
