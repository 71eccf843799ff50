"""How a dann process stops on Ctrl-C, SIGTERM and SIGHUP: at a safe point, with one line, resumable.

Python's own Ctrl-C handler raises KeyboardInterrupt wherever the main thread happens to be. In a
training loop that can be inside ``os.fork``'s after-fork hooks (each evaluation of streamed data
starts DataLoader workers), where Python prints ``Exception ignored in ... _releaseLock`` and
discards the exception: the stop is lost and the run trains to its last step. So:

- :func:`handled` installs :func:`handler` for the stop signals (a command's whole body). Outside a
  training loop it raises KeyboardInterrupt at once, as Python's handler does.
- :func:`polled` marks a training loop: there the handler only records the signal, and the loop
  calls :func:`check` after each step, which raises KeyboardInterrupt at that safe point. A second
  Ctrl-C raises at once (a user pressing it twice, or a loop stuck in a long evaluation).
- DataLoader workers ignore the stop signals (:func:`worker_init`, and :func:`blocked` around the
  fork that starts them): a terminal's Ctrl-C, a scheduler's TERM to the process group or to every
  process of a job reaches them too, and a worker that died of it would end the run with
  "DataLoader worker (pid N) is killed by signal". The run's main process stops its workers itself.
- :func:`die_with_parent`: a process another dann process started (a sweep's job) gets a signal
  when that parent dies, even of SIGKILL, so nothing outlives it under PID 1.

A signal that is ignored when dann starts stays ignored (``nohup`` ignores SIGHUP; a shell script's
background job starts with SIGINT ignored).
"""
from __future__ import annotations

import atexit
import contextlib
import os
import signal
import sys
import threading
from typing import Iterator

STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))

_requested: list[int] = []  # the stop signal recorded while a loop polls (at most one)
_polling = 0  # how many polled() blocks are open (nested: a job's run inside a sweep worker)


PARENT_PID_ENV = "DANN_PARENT_PID"
"""Set by a dann process for a child it starts (a sweep's job): the parent's id (:func:`die_with_parent`)."""


def handler(number: int, frame) -> None:
    """The stop signals' handler: record the signal while a loop polls, else KeyboardInterrupt now.
    A second Ctrl-C while a stop is recorded raises at once; a repeated TERM or HUP (a launcher
    passing on the stop its process group already got) waits for the loop like the first."""
    if _polling and (not _requested or number != signal.SIGINT):
        if not _requested:
            _requested.append(number)
        return
    raise KeyboardInterrupt


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


@contextlib.contextmanager
def handled(signals=STOP_SIGNALS) -> Iterator[None]:
    """Within: ``signals`` end the process as Ctrl-C does (see :func:`handler`); restored after.
    Ignored signals stay ignored; nothing happens outside the main thread (Python's rule)."""
    previous = {}
    if _main_thread():
        for number in signals:
            current = signal.getsignal(number)
            if current is not signal.SIG_IGN:
                previous[number] = signal.signal(number, handler)
    try:
        yield
    finally:
        for number, old in previous.items():
            signal.signal(number, old if old is not None else signal.SIG_DFL)


@contextlib.contextmanager
def polled() -> Iterator[None]:
    """Within: a stop signal is recorded for :func:`check` instead of raising where it lands.

    Python's default SIGINT handler (a script or notebook calling ``train()``) is replaced by
    :func:`handler` for the block too. A stop recorded after the last check raises
    KeyboardInterrupt when the block ends normally."""
    global _polling
    if not _main_thread():  # signals reach the main thread only: a loop elsewhere leaves them as they are
        yield
        return
    replaced = {}
    for number in STOP_SIGNALS:
        if signal.getsignal(number) is signal.default_int_handler:
            replaced[number] = signal.signal(number, handler)
    if _polling == 0:
        _requested.clear()
    _polling += 1
    failed = False
    try:
        yield
    except BaseException:
        failed = True
        raise
    finally:
        _polling -= 1
        for number, old in replaced.items():
            signal.signal(number, old)
        pending = bool(_requested) and _polling == 0
        if _polling == 0:
            _requested.clear()
        if pending and not failed:
            raise KeyboardInterrupt


def requested() -> int | None:
    """The stop signal recorded since the loop began, or None."""
    return _requested[0] if _requested else None


def check() -> None:
    """KeyboardInterrupt when a stop signal was recorded (call it where stopping is safe)."""
    if _requested:
        _requested.clear()
        raise KeyboardInterrupt


@contextlib.contextmanager
def blocked() -> Iterator[None]:
    """Within: the stop signals are held back from this thread (delivered when the block ends).

    Wrap the start of DataLoader workers: a fork copies the signal mask, so a signal sent to the
    group while a worker starts waits in the worker until :func:`worker_init` discards it."""
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def worker_init(worker_id: int = 0) -> None:
    """``worker_init_fn`` of dann's DataLoaders: the worker ignores the stop signals (discarding
    any that arrived while it started) and leaves stopping to the process that started it."""
    for number in STOP_SIGNALS:
        signal.signal(number, signal.SIG_IGN)  # also discards a pending one (POSIX)
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)


_workers: list = []  # the DataLoader worker processes this process started (see track_workers)
_exit_handler_registered = False  # once per process: a loader without workers must not add one per iterator


def track_workers(processes) -> None:
    """Remember DataLoader worker ``processes`` so that none can hold this process's exit.

    At exit, multiprocessing ends a daemonic child with SIGTERM and then waits for it; a worker
    ignores SIGTERM (:func:`worker_init`), so one whose iterator was never shut down (an error kept
    its traceback alive) would make the exit wait forever. Those still alive get SIGKILL first
    (atexit runs handlers last-registered first, so this runs before multiprocessing's)."""
    global _exit_handler_registered
    if not _exit_handler_registered:
        atexit.register(_kill_leftover_workers)
        _exit_handler_registered = True
    _workers[:] = [worker for worker in _workers if _ours(worker) and worker.is_alive()]
    _workers.extend(processes)


def _ours(worker) -> bool:
    return getattr(worker, "_parent_pid", None) == os.getpid()  # not a copy inherited by a fork


def _kill_leftover_workers() -> None:
    leftover = [worker for worker in _workers if _ours(worker) and worker.is_alive()]
    _workers.clear()
    if not leftover:
        return
    if hasattr(signal, "SIGCHLD") and _main_thread():
        # torch's SIGCHLD handler turns a killed worker into a RuntimeError in whatever code runs
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    for worker in leftover:
        worker.kill()
    for worker in leftover:
        worker.join(timeout=5)


def die_with_parent(parent_env: str, number: int) -> None:
    """When environment variable ``parent_env`` holds the id of this process's parent: ask Linux to
    send signal ``number`` when that parent ends (``prctl(PR_SET_PDEATHSIG)``, which SIGKILL cannot
    escape), and exit now (status 1) if it already has (the parent is no longer this process's).
    Nothing elsewhere. The parent sets the variable for its child alone: a child that starts
    processes of its own removes it from their environment first."""
    parent = os.environ.get(parent_env, "")
    if not parent.isdigit() or not sys.platform.startswith("linux"):
        return
    import ctypes

    PR_SET_PDEATHSIG = 1
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, int(number), 0, 0, 0)
    except (OSError, AttributeError):
        return
    if os.getppid() != int(parent):  # the parent died before the request: no signal will come
        os._exit(1)
