"""The exclusive lock of a run directory (``RUN_DIR/.lock``): one process writes a run at a time, and a
second writer is told the holder's process id (:mod:`.rundir` describes the directory's other files)."""
from __future__ import annotations

import errno
import os
from pathlib import Path

from .. import files
from .errors import RunError

LOCK_FILE = ".lock"


class RunLock:
    """The exclusive lock of a run directory: ``flock`` on ``RUN_DIR/.lock``, held until
    :meth:`release` (which removes the file) or the end of the process, however it ends (the kernel
    drops the lock with the file descriptor; a killed process leaves the file, unlocked, for the next
    one). A second writer gets a :class:`RunError` naming the holder's process id."""

    def __init__(self, run_dir: Path) -> None:
        self.fd: int | None = None
        self.run_dir, self.path = Path(run_dir), Path(run_dir) / LOCK_FILE
        for _ in range(10):  # the file may be removed by a holder between our open and our flock
            self._open()
            if self._still_ours():
                return
            os.close(self.fd)
            self.fd = None
        raise RunError(f"{run_dir}: could not lock {self.path} (it keeps being replaced); is another dann starting there?")

    def _open(self) -> None:
        import fcntl

        files.refuse_links(self.path)
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0), 0o666)
        except OSError as exc:
            raise files.name_file(exc, self.path) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip()
            os.close(fd)
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise files.name_file(exc, self.path) from None
            who = f"pid {holder}" if holder.isdigit() else "another process"
            raise RunError(f"{self.run_dir} is in use: a dann process ({who}) is writing it; wait for it to end or stop it, "
                           f"then continue with --resume {self.run_dir}") from None
        self.fd = fd

    def _still_ours(self) -> bool:
        """Whether the locked file is still the one at ``.lock`` (not removed by a holder releasing it)."""
        try:
            return os.path.samestat(os.fstat(self.fd), os.stat(self.path, follow_symlinks=False))
        except OSError:
            return False

    def claim(self) -> None:
        """Write this process's id in the lock file (what a second writer is told)."""
        os.ftruncate(self.fd, 0)
        os.pwrite(self.fd, f"{os.getpid()}\n".encode(), 0)

    def release(self) -> None:
        """Remove the lock file and let go of the lock (a run directory that ends keeps only its files)."""
        if self.fd is not None:
            if self._still_ours():
                self.path.unlink(missing_ok=True)
            os.close(self.fd)  # closing the descriptor drops the flock
            self.fd = None

    __del__ = release  # a trainer dropped without running lets go of its directory


def lock(run_dir: Path, claim: bool = True) -> RunLock | None:
    """The run directory's :class:`RunLock` (None where the directory does not exist yet)."""
    if not Path(run_dir).is_dir():
        return None
    held = RunLock(run_dir)
    if claim:
        held.claim()
    return held
