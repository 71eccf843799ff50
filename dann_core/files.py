"""The one atomic writer: a run's files are never half-written.

:func:`atomic_write` writes to a temporary file in the destination's directory, fsyncs it, renames it
over the destination with ``os.replace`` (atomic on POSIX) and fsyncs the directory. A crash at any
point leaves either the previous file or the new one, never a torn one, and no temporary file
(except after SIGKILL, which no handler sees: such leftovers are named ``.NAME.*.tmp``).
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import IO, Any, Callable


def atomic_write(path: str | Path, write: Callable[[IO[bytes]], None]) -> None:
    """Replace ``path`` with what ``write(file)`` writes to a binary file, atomically."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def write_json(data: Any, path: str | Path) -> None:
    """Write ``data`` as indented JSON, replacing ``path`` atomically."""
    text = (json.dumps(data, indent=2) + "\n").encode()
    atomic_write(path, lambda file: file.write(text))


def write_text(text: str, path: str | Path) -> None:
    atomic_write(path, lambda file: file.write(text.encode()))


def read_json(path: str | Path) -> Any:
    return json.loads(Path(path).read_text())


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
