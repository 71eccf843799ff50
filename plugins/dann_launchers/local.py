"""``local``: N worker processes on this machine, each job in a fresh Python process."""
from __future__ import annotations

import os
import queue
import signal
import subprocess
import threading
from concurrent.futures import ThreadPoolExecutor

STOP_GRACE_S = 30.0
"""After Ctrl-C, how long a job may take to end as on Ctrl-C (resumable) before it is killed."""


def usable_cores() -> int:
    """The CPUs this process may run on (its affinity mask), at least 1."""
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1))


def visible_gpus() -> list[str]:
    """The GPUs jobs may use: CUDA_VISIBLE_DEVICES when set, else every device torch sees."""
    listed = os.environ.get("CUDA_VISIBLE_DEVICES")
    if listed is not None:
        return [d.strip() for d in listed.split(",") if d.strip() and d.strip() != "-1"]
    try:
        import torch

        return [str(i) for i in range(torch.cuda.device_count())]
    except Exception:  # no usable CUDA: CPU workers
        return []


class LocalLauncher:
    """N worker processes on this machine (``--workers N``), one job at a time each.

    Each job runs as ``python -m dann_evaluation.jobs JOB_DIR`` in its own process (its output in
    JOB_DIR/log), so a job that dies takes nothing else with it. Worker ``i`` gets
    ``--threads`` = usable cores // N (when the job's config leaves threads at 0) and, on a machine
    with GPUs, one of them: ``CUDA_VISIBLE_DEVICES`` = GPU ``i mod number of GPUs``.

    Options:
      threads: threads per job (0: the cores' share).
    """

    def __init__(self, workers: int, threads: int = 0) -> None:
        if workers < 1:
            raise ValueError(f"local launcher: workers must be ≥ 1, got {workers}")
        if threads < 0:
            raise ValueError(f"local launcher: threads must be ≥ 0 (0: cores // workers), got {threads}")
        self.workers = workers
        self.threads = threads or max(1, usable_cores() // workers)
        self.gpus = visible_gpus()
        self.processes: set[subprocess.Popen] = set()
        self.stopping = threading.Event()
        self.lock = threading.Lock()

    def environment(self, slot: int) -> dict[str, str]:
        from dann_core.stops import PARENT_PID_ENV

        env = dict(os.environ)
        env[PARENT_PID_ENV] = str(os.getpid())  # the job dies with this process, even of SIGKILL
        if self.gpus:
            env["CUDA_VISIBLE_DEVICES"] = self.gpus[slot % len(self.gpus)]
        return env

    def launch(self, tasks, report) -> None:
        slots: queue.Queue[int] = queue.Queue()
        for slot in range(self.workers):
            slots.put(slot)

        def one(task) -> None:
            if self.stopping.is_set():
                return
            slot = slots.get()
            try:
                with open(task.log, "ab") as log:
                    with self.lock:
                        if self.stopping.is_set():
                            return
                        report(task, "started")
                        process = subprocess.Popen(task.argv(self.threads), env=self.environment(slot), stdout=log, stderr=subprocess.STDOUT)
                        self.processes.add(process)
                    process.wait()
                    with self.lock:
                        self.processes.discard(process)
                report(task, "ended")
            finally:
                slots.put(slot)

        pool = ThreadPoolExecutor(self.workers, thread_name_prefix="dann-local")
        futures = [pool.submit(one, task) for task in tasks]
        try:
            for future in futures:
                future.result()
        except KeyboardInterrupt:
            self.stop()
            raise
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    def stop(self) -> None:
        """Ctrl-C (or TERM, HUP): every running job gets SIGTERM (it ends resumable; SIGINT may be
        ignored, as in a shell script's background job), and SIGKILL after STOP_GRACE_S."""
        self.stopping.set()
        with self.lock:
            running = list(self.processes)
        for process in running:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in running:
            try:
                process.wait(STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
