"""Durable writes with the disk waits off the training loop: one background thread, in order.

:func:`dann_core.files.atomic_write` writes a temporary file, fsyncs it, renames it over the
destination and fsyncs the directory; metrics.jsonl fsyncs each line it appends. The fsyncs wait for
the disk: about 12 ms per file on this project's ext4 machines, and an evaluation writes 3-4 files
(last.pt, best.pt, a candidate, a metrics line), so a default 3,000-step moons run spent about a
second of its six waiting (benchmarks/bench_e2e.py).

Inside :func:`in_background` (the training loop), the caller still writes the whole temporary file
(or line) itself; :func:`commit` and :func:`sync` hand the rest to one thread that does it in the order
given: fsync the file, rename it over the destination, fsync the directory. What that keeps:

- Atomicity: the rename still comes after the data are on disk, so a destination is always a
  complete old or new file, whether the process is killed or the machine loses power.
- Order: files reach their names in the order they were written (last.pt never goes back in time).
- Errors: a failed fsync or rename is raised, naming the file, by the next :func:`commit`,
  :func:`sync` or :func:`wait`, and by the end of the block; later writes are then dropped.
- At the end of the block every pending write is finished before it returns (after an exception or
  Ctrl-C too, so the last checkpoint written is the one a resume finds); a second Ctrl-C stops waiting.

What changes is only when: a file may reach its name up to an evaluation later than it would have
(a kill in between resumes from the checkpoint before, as a kill just before the write did). Code
that reads a run's files inside the block calls :func:`wait` first. Outside the block all of this is
done by the caller, synchronously, as before.
"""
from __future__ import annotations

import contextlib
import os
import queue
import threading
from pathlib import Path
from typing import Callable

_active: "_Committer | None" = None


@contextlib.contextmanager
def in_background():
    """Let :func:`commit` and :func:`sync` finish writes in the background until the block ends
    (main thread only; a nested block is part of the outer one)."""
    global _active
    if _active is not None or threading.current_thread() is not threading.main_thread():
        yield
        return
    _active = committer = _Committer()
    try:
        yield
    except BaseException:
        _active = None
        committer.close(raise_error=False)
        raise
    _active = None
    committer.close(raise_error=True)


def active() -> bool:
    """Whether writes are being finished in the background now."""
    return _active is not None


def check() -> None:
    """Raise the failure of a write finished in the background, if one failed."""
    if _active is not None:
        _active.raise_failure()


def commit(tmp: Path, path: Path, check: Callable[[], None]) -> bool:
    """Queue "``check()``, fsync ``tmp``, rename it to ``path``, fsync the folder" when a block of
    :func:`in_background` is active (True); False otherwise: the caller does it now."""
    if _active is None:
        return False
    _active.submit(("commit", tmp, path, check))
    return True


def sync(path: Path) -> bool:
    """Queue an fsync of ``path`` (a line just appended) when a block is active (True), else False."""
    if _active is None:
        return False
    _active.submit(("sync", path, path, None))
    return True


def wait() -> None:
    """Every queued write done (raises the first failure); nothing to do outside a block."""
    if _active is not None:
        _active.wait()


def in_flight() -> set[Path]:
    """The temporary files queued and not yet renamed (a cleanup of leftovers must spare them)."""
    return _active.pending() if _active is not None else set()


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


def fsync_path(path: str | Path) -> None:
    """fsync a closed file by its path (Linux and macOS flush a file's pages through any descriptor)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class _Committer:
    def __init__(self) -> None:
        self.jobs: queue.Queue = queue.Queue()
        self.error: BaseException | None = None
        self.lock = threading.Lock()
        self.queued: list[Path] = []
        self.thread = threading.Thread(target=self._work, name="dann-durable-writes", daemon=True)
        self.thread.start()

    def submit(self, job) -> None:
        with self.lock:
            if job[0] == "commit":
                self.queued.append(job[1])
        self.jobs.put(job)

    def pending(self) -> set[Path]:
        with self.lock:
            return set(self.queued)

    def wait(self) -> None:
        self.jobs.join()
        self.raise_failure()

    def close(self, raise_error: bool) -> None:
        self.jobs.put(None)
        try:
            self.jobs.join()
        finally:
            if raise_error:
                self.raise_failure()

    def raise_failure(self) -> None:
        if self.error is not None:
            error, self.error = self.error, None
            raise error

    def _work(self) -> None:
        while True:
            job = self.jobs.get()
            try:
                if job is None:
                    return
                kind, source, path, check = job
                if self.error is not None:  # an earlier write failed: later ones would outrun it
                    if kind == "commit":
                        Path(source).unlink(missing_ok=True)
                    continue
                try:
                    if kind == "commit":
                        check()  # no symbolic link made on the way since the caller checked
                    fsync_path(source)
                    if kind == "commit":
                        os.replace(source, path)
                        fsync_dir(Path(path).parent)
                except BaseException as exc:  # raised in the caller's thread, naming the file
                    if kind == "commit":
                        Path(source).unlink(missing_ok=True)
                    if isinstance(exc, OSError) and exc.strerror is not None and not exc.filename:
                        exc.filename = str(path)
                    self.error = exc
            finally:
                if job is not None and job[0] == "commit":
                    with self.lock:
                        self.queued.remove(job[1])
                self.jobs.task_done()
