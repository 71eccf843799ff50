"""``ray``: jobs as Ray tasks on a Ray cluster, or a local one (``pip install 'dann[ray]'``)."""
from __future__ import annotations

import os


def _require_ray():
    try:
        import ray
    except ImportError:
        raise ValueError("the ray launcher needs ray: pip install 'dann[ray]'") from None
    return ray


def _run(task, threads: int) -> str:
    return task.run(threads)


class RayLauncher:
    """Each job a Ray task (``ray.init(address)``; no address starts a local Ray), ``--workers`` at a time.

    A job whose worker or node dies is not retried by Ray: it is interrupted and the next launch
    resumes it from its last checkpoint.

    Options:
      address: the Ray cluster ("": a local one, or RAY_ADDRESS).
      cpus_per_job: CPUs Ray reserves per job (also its torch threads).
      gpus_per_job: GPUs Ray reserves per job.
    """

    def __init__(self, workers: int, address: str = "", cpus_per_job: int = 1, gpus_per_job: float = 0.0) -> None:
        if cpus_per_job < 1 or gpus_per_job < 0:
            raise ValueError(f"ray launcher: cpus_per_job must be ≥ 1 and gpus_per_job ≥ 0, got {cpus_per_job} and {gpus_per_job}")
        _require_ray()
        self.workers, self.address, self.cpus, self.gpus = workers, address, cpus_per_job, gpus_per_job

    def launch(self, tasks, report) -> None:
        ray = _require_ray()
        if not ray.is_initialized():
            # the workers import dann the way this process does
            env = {"env_vars": {"PYTHONPATH": os.environ.get("PYTHONPATH", "")}}
            ray.init(address=self.address or None, runtime_env=env, include_dashboard=False, log_to_driver=False)
        remote = ray.remote(num_cpus=self.cpus, num_gpus=self.gpus, max_retries=0)(_run)
        waiting, running = list(tasks), {}
        try:
            while waiting or running:
                while waiting and len(running) < self.workers:
                    task = waiting.pop(0)
                    running[remote.remote(task, self.cpus)] = task
                    report(task, "started")
                ready, _ = ray.wait(list(running), num_returns=1)
                for ref in ready:
                    task = running.pop(ref)
                    try:
                        ray.get(ref)
                    except Exception:  # a lost worker: the job's directory says interrupted
                        pass
                    report(task, "ended")
        except KeyboardInterrupt:
            for ref in running:
                ray.cancel(ref)  # KeyboardInterrupt in the task: it ends resumable
            raise
