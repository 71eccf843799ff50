"""The one atomic writer: a run's files are never half-written.

:func:`atomic_write` writes to a temporary file in the destination's directory, fsyncs it, renames it
over the destination with ``os.replace`` (atomic on POSIX) and fsyncs the directory. A crash at any
point leaves either the previous file or the new one, never a torn one, and no temporary file
(except after SIGKILL, which no handler sees: such leftovers are named ``.NAME.*.tmp`` and
:func:`sweep_temporaries` removes them). A failed write raises OSError naming the destination.

Nothing is written or deleted through a symbolic link inside a directory dann manages (a run
directory): :func:`refuse_links` is the one check, and every writer of such a directory calls it
(:func:`atomic_write` itself, :func:`open_append`, the pruning of candidates). A link there raises
:class:`LinkRefusedError`, one line naming it; the run directory itself may be a link.

Ctrl-C, SIGTERM or SIGHUP during :func:`atomic_write` waits until the file is written
(:func:`stops_deferred`): a KeyboardInterrupt raised inside ``torch.save`` comes out as torch's
``RuntimeError: unexpected pos``, and the run would end with a traceback instead of the resumable
one-line stop.
"""
from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import signal
import tempfile
import threading
from pathlib import Path
from typing import IO, Any, Callable


class LinkRefusedError(OSError):
    """A symbolic link where dann writes or deletes a file it manages (str: ``LINK: is a symbolic link; ...``)."""


def refuse_links(path: str | Path, root: str | Path | None = None) -> Path:
    """``path``, having checked that neither it nor a folder between ``root`` (default: ``path``'s
    folder) and it is a symbolic link; else :class:`LinkRefusedError` naming the link.

    ``root`` itself may be a link (a user's choice of where the run lives); what dann creates
    inside it never is, so a link there was put by someone else and following it would write or
    delete files outside the directory."""
    path = Path(path)
    root = Path(root) if root is not None else path.parent
    try:
        inside = path.relative_to(root).parts
    except ValueError:
        raise ValueError(f"{path} is not inside {root}") from None
    current = root
    for part in inside:
        current = current / part
        if current.is_symlink():
            raise LinkRefusedError(
                errno.ELOOP,
                "is a symbolic link; dann never writes or deletes through a link inside a run directory "
                "(replace it with a real file or folder, or remove it)",
                str(current),
            )
    return path


def open_append(path: str | Path):
    """``path`` opened for appending text (created if missing), never through a symbolic link."""
    path = refuse_links(path)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o666)
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # made a link between the check and the open
            refuse_links(path)
        raise name_file(exc, path) from None
    return os.fdopen(fd, "a")


def atomic_write(path: str | Path, write: Callable[[IO[bytes]], None], root: str | Path | None = None) -> None:
    """Replace ``path`` with what ``write(file)`` writes to a binary file, atomically.

    Refuses (:class:`LinkRefusedError`) when ``path`` or a folder below ``root`` (default: its
    folder) is a symbolic link."""
    path = refuse_links(path, root)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise name_file(exc, path) from None
    try:
        with stops_deferred():
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


_STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))


@contextlib.contextmanager
def stops_deferred():
    """Hold Ctrl-C, SIGTERM and SIGHUP until the block ends, then act on the first one as its own
    handler would; a second one during the block stops at once (a user pressing Ctrl-C twice).

    Only signals handled in Python are held (a default action, such as SIGTERM's without dann's
    handler, still ends the process), and only in the main thread, the one Python delivers them to."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held: list[int] = []

    def hold(number, frame):
        if held:
            raise KeyboardInterrupt
        held.append(number)

    previous = {}
    for number in _STOP_SIGNALS:
        handler = signal.getsignal(number)
        if callable(handler):
            previous[number] = signal.signal(number, hold)
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
    if held:
        previous[held[0]](held[0], None)


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


def write_json(data: Any, path: str | Path, root: str | Path | None = None) -> None:
    """Write ``data`` as indented JSON, replacing ``path`` atomically."""
    text = (json.dumps(data, indent=2) + "\n").encode()
    atomic_write(path, lambda file: file.write(text), root)


def write_text(text: str, path: str | Path, root: str | Path | None = None) -> None:
    atomic_write(path, lambda file: file.write(text.encode()), root)


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
