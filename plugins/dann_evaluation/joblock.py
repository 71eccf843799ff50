"""The lock of a running job: an exclusive flock on ``JOB_DIR/lock`` held for the whole job, its file
holding the holder's pid and host, so that "running" never outlives a killed worker.

:class:`JobLock` takes it (:func:`dann_evaluation.jobs.run_job`), :func:`lock_holder` reads who holds it
(:func:`dann_evaluation.jobs.job_state`). :class:`JobError` is the one-line error of a job directory that
cannot be used: a held lock here, another experiment under the same id in :mod:`dann_evaluation.jobs`.
"""
from __future__ import annotations

import errno
import fcntl
import os
import time
from pathlib import Path

LOCK_FILE = "lock"


class JobError(ValueError):
    """A job directory that cannot be used (another config under the same id, a held lock); one line."""


def _open_nofollow(path: Path, flags: int) -> int:
    """os.open that refuses a symlink (a job never writes through a link)."""
    try:
        return os.open(path, flags | os.O_NOFOLLOW, 0o666)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise JobError(f"{path} is a symbolic link; a job never writes through one: remove it") from None
        raise


RECLAIM_WAIT_S = 30.0
"""How long a job waits for a lock left to the children of its dead holder (DataLoader workers, which
share the locked file and exit within seconds of their parent, by torch's watchdog)."""


class JobLock:
    """An exclusive flock on ``JOB_DIR/lock`` for the whole job; its file holds the holder's pid and host.

    A holder killed at once (SIGKILL, out of memory) may leave the lock to its DataLoader worker
    processes for a few seconds (a fork shares the locked file): a job whose recorded holder is dead
    counts as interrupted, not running, and the next worker waits for the lock instead of giving up."""

    def __init__(self, job_dir: str | Path) -> None:
        self.path = Path(job_dir) / LOCK_FILE
        self.fd: int | None = None

    def __enter__(self) -> "JobLock":
        fd = _open_nofollow(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC)
        deadline = time.monotonic() + RECLAIM_WAIT_S
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                holder = _read_holder(fd)
                if _dead_holder(holder) and time.monotonic() < deadline:
                    time.sleep(0.2)
                    continue
                os.close(fd)
                pid = (holder.split() or ["?"])[0]
                raise JobError(f"job {self.path.parent.name} is being run by process {pid}; wait for it or stop it") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()} {_host()}\n".encode(), 0)
        self.fd = fd
        return self

    def __exit__(self, *exc_info) -> None:
        if self.fd is not None:
            os.close(self.fd)  # closing releases the lock; the pid stays for the record
            self.fd = None


def _read_holder(fd: int, wait: float = 2.0) -> str:
    """The lock file's ``PID HOST``. A holder writes it just after taking the lock, so a reader that
    finds the lock taken but the file empty waits for it (up to ``wait`` s) rather than report "?"."""
    deadline = time.monotonic() + wait
    while True:
        holder = os.pread(fd, 128, 0).decode(errors="replace")
        if holder.strip() or time.monotonic() >= deadline:
            return holder
        time.sleep(0.01)


def _host() -> str:
    import socket

    return socket.gethostname()


def _dead_holder(text: str) -> bool:
    """Whether the lock file's ``PID HOST`` names a process of this host that no longer exists."""
    parts = text.split()
    if len(parts) != 2 or not parts[0].isdigit() or parts[1] != _host():
        return False  # another host's process (a shared file system), or an older lock file: not judged
    try:
        os.kill(int(parts[0]), 0)
    except ProcessLookupError:
        return True
    except OSError:  # alive, another user's
        return False
    return False


def lock_holder(job_dir: str | Path) -> str | None:
    """The pid (text) of the live process holding the job's lock, or None when nobody holds it (or
    only the children of a dead holder do: see :class:`JobLock`)."""
    path = Path(job_dir) / LOCK_FILE
    if not path.is_file() or path.is_symlink():
        return None
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(fd)
            return None if _dead_holder(holder) else ((holder.split() or ["?"])[0])
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)
