"""Data-parallel training on torch.distributed, started by torchrun (``dann run --nproc N`` calls it).

Every process builds the same data and networks from the run's seed and draws the same global batch
of ``batch_size`` rows per domain from the same seeded samplers; process ``rank`` trains on its
contiguous ``batch_size / world`` rows of it. Gradients (and the loss, for the non-finite guard) are
averaged across processes in one all-reduce before the optimiser step, so every process holds the
same weights and the global batch is the one the user asked for. Sampler and RNG states are equal
on every process, so rank 0's last.pt resumes all of them exactly. Metrics are averaged across
processes at each evaluation; only rank 0 writes the run directory. gloo on CPU, NCCL on CUDA.

The processes ``dann run --nproc`` starts die with it (:func:`die_with_launcher`): a launcher killed
with SIGKILL, which no handler sees, takes its processes along at once, so nothing writes the run
directory after it.
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass

import torch
import torch.distributed as dist

from .errors import RunError


@dataclass(frozen=True)
class World:
    rank: int = 0
    size: int = 1

    @property
    def writes(self) -> bool:
        """Whether this process writes the run directory (rank 0)."""
        return self.rank == 0

    def share(self, idx: torch.Tensor) -> tuple[int, torch.Tensor]:
        """(where this process's share starts, the share) of a global batch's indices."""
        if self.size == 1:
            return 0, idx
        size = len(idx) // self.size
        return self.rank * size, idx[self.rank * size : (self.rank + 1) * size]


LAUNCHER_PID = "DANN_LAUNCHER_PID"
"""Set by ``dann run --nproc`` for its processes: the launcher's process id."""


def env_int(name: str, default: int) -> int:
    """The integer in environment variable ``name`` (``default`` when unset); ValueError naming it."""
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"environment variable {name}={value!r} is not an integer (torchrun sets it for each process); "
                         f"unset it, or start data-parallel runs with dann run --nproc N") from None


def rank() -> int:
    """This process's rank (RANK; 0 when unset)."""
    return env_int("RANK", 0)


def launched() -> bool:
    """Whether this process was started by torchrun with more than one process."""
    return env_int("WORLD_SIZE", 1) > 1


def joined() -> bool:
    """Whether this process has joined its process group."""
    return dist.is_available() and dist.is_initialized()


def die_with_launcher() -> None:
    """In a process ``dann run --nproc`` started: ask the kernel for SIGKILL when the launcher dies
    (Linux ``prctl(PR_SET_PDEATHSIG)``), and exit now if it already has. Nothing elsewhere."""
    launcher = os.environ.get(LAUNCHER_PID, "")
    if not launcher.isdigit() or not sys.platform.startswith("linux"):
        return
    import ctypes
    import signal

    PR_SET_PDEATHSIG = 1
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        return
    if os.getppid() != int(launcher):  # the launcher died before the request: no signal will come
        os._exit(1)


def setup(device: torch.device) -> tuple[World, torch.device]:
    """Join the process group torchrun describes (once); returns the world and this process's device."""
    if not launched():
        return World(), device
    die_with_launcher()
    if device.type == "cuda":
        device = torch.device("cuda", env_int("LOCAL_RANK", 0))
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        join("nccl" if device.type == "cuda" else "gloo")
    return World(dist.get_rank(), dist.get_world_size()), device


RENDEZVOUS_TIMEOUT = "DANN_RENDEZVOUS_TIMEOUT"
"""Environment variable: seconds a process waits for the others of its group to join (default 300)."""
RENDEZVOUS_NOTE_S = 10.0
"""After this long waiting, a process started outside ``dann run --nproc`` says what it waits for."""


def _rendezvous_timeout() -> float:
    text = os.environ.get(RENDEZVOUS_TIMEOUT, "").strip()
    if not text:
        return 300.0
    try:
        seconds = float(text)
    except ValueError:
        seconds = -1.0
    if not 0 < seconds < float("inf"):
        raise RunError(f"environment variable {RENDEZVOUS_TIMEOUT}={text!r} is not a number of seconds above 0")
    return seconds


def join(backend: str) -> None:
    """``init_process_group(backend)`` from torchrun's environment, waited for with a timeout.

    torch waits for the other processes in C++ for 30 minutes, deaf to Ctrl-C and SIGTERM (a Python
    handler runs only between bytecodes); a torchrun environment leaked into a shell would hang
    there. So the join runs in a thread while this one waits: a stop signal ends the wait at once,
    and after :data:`RENDEZVOUS_TIMEOUT` seconds the run ends with one line (RunError). Either way the
    thread stays blocked in C++ until the process exits."""
    import threading
    import time

    world, rank_ = env_int("WORLD_SIZE", 1), env_int("RANK", 0)
    if not 0 <= rank_ < world:
        raise RunError(f"environment variable RANK={rank_} is not a process of WORLD_SIZE={world} (0 to {world - 1}); "
                       "unset RANK and WORLD_SIZE, or start data-parallel runs with dann run --nproc N")
    missing = [name for name in ("MASTER_ADDR", "MASTER_PORT") if not os.environ.get(name, "").strip()]
    if missing:
        raise RunError(f"WORLD_SIZE={world} asks for {world} processes, but {' and '.join(missing)} is not set (torchrun sets it); "
                       "unset WORLD_SIZE and RANK, or start data-parallel runs with dann run --nproc N")
    timeout = _rendezvous_timeout()
    where = f"{os.environ['MASTER_ADDR']}:{os.environ['MASTER_PORT']}"
    failure: list[BaseException] = []

    def init() -> None:
        try:
            dist.init_process_group(backend)
        except BaseException as exc:  # reported by the waiting thread
            failure.append(exc)

    thread = threading.Thread(target=init, name="dann-rendezvous", daemon=True)
    started = time.monotonic()
    thread.start()
    noted = os.environ.get(LAUNCHER_PID) is not None  # dann run --nproc starts its processes together
    while thread.is_alive() and time.monotonic() - started < timeout:
        thread.join(0.2)  # a stop signal raises KeyboardInterrupt here
        if not noted and time.monotonic() - started > RENDEZVOUS_NOTE_S:
            noted = True
            print(f"process {rank_} of {world} (RANK, WORLD_SIZE from the environment) is waiting for the others at {where}; "
                  f"giving up after {timeout:g} s ({RENDEZVOUS_TIMEOUT})", file=sys.stderr, flush=True)
    if thread.is_alive():
        raise RunError(f"process {rank_} of {world}: the other processes of the group never joined at {where} within {timeout:g} s "
                       "(RANK, WORLD_SIZE and MASTER_ADDR/PORT come from the environment: left over from torchrun?); "
                       "unset them to train in one process, or start data-parallel runs with dann run --nproc N")
    if failure:
        reason = (str(failure[0]).strip().splitlines() or [type(failure[0]).__name__])[0][:200]
        raise RunError(f"process {rank_} of {world} could not join its group at {where}: {reason}")


def leave() -> None:
    """Leave the process group at the end of a run every process finished: a barrier (no process
    closes its connections while another still uses them), then destroy_process_group. Without it
    gloo's threads outlive the interpreter's exit now and then ("terminate called without an active
    exception", exit status 1 after a finished run). Only after success: after a failure another
    process may be inside a collective that will never complete, and torchrun stops them all."""
    if dist.is_available() and dist.is_initialized():
        try:
            dist.barrier()
        except RuntimeError:  # another process failed after its training (it reports its own error)
            return
        dist.destroy_process_group()


def average_gradients(parameters, loss: torch.Tensor) -> torch.Tensor:
    """Average every gradient and the loss across processes (one all-reduce); returns the mean loss."""
    grads = [p.grad for p in parameters if p.grad is not None]
    flat = torch.cat([g.reshape(-1) for g in grads] + [loss.detach().float().reshape(1)])
    dist.all_reduce(flat)
    flat /= dist.get_world_size()
    for grad, part in zip(grads, flat[:-1].split([g.numel() for g in grads])):
        grad.copy_(part.view_as(grad))
    return flat[-1]


def mean_metrics(window: dict[str, float]) -> dict[str, float]:
    """The evaluation window's metric means averaged across processes (unchanged in one process)."""
    if not (dist.is_available() and dist.is_initialized()) or not window:
        return window
    keys = sorted(window)
    values = torch.tensor([float(window[k]) for k in keys], dtype=torch.float64)
    dist.all_reduce(values)
    values /= dist.get_world_size()
    return dict(zip(keys, values.tolist()))


def launch(nproc: int, args: list[str]) -> int:
    """Run ``python -m dann_core ARGS`` in ``nproc`` processes through torch.distributed.run.

    Returns the exit status: 0, 1 when a process failed (its one-line error is above), 130 when
    the launcher was interrupted (SIGINT, SIGTERM, SIGHUP: torchrun stops the processes and raises
    its SignalException, turned into KeyboardInterrupt here so the caller prints one line)."""
    import logging

    from torch.distributed import run as torchrun
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError

    os.environ[LAUNCHER_PID] = str(os.getpid())  # inherited by the processes: see die_with_launcher
    # torchrun logs a banner, each stopped process and a failure table; the processes print their own
    # one line. Its modules' loggers carry their own levels, so each is set (all are imported by now).
    for name in list(logging.root.manager.loggerDict):
        if name.startswith("torch.distributed"):
            logging.getLogger(name).setLevel(logging.CRITICAL)
    try:
        torchrun.main(["--standalone", f"--nproc-per-node={nproc}", "-m", "dann_core", *args])
    except ChildFailedError:
        print(f"dann run --nproc {nproc}: a process failed (its error is above)", file=sys.stderr)
        return 1
    except SignalException:
        raise KeyboardInterrupt from None
    finally:
        os.environ.pop(LAUNCHER_PID, None)
    return 0
