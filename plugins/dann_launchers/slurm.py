"""``submitit``: jobs as Slurm jobs through submitit (``pip install 'dann[slurm]'``)."""
from __future__ import annotations

import time
from pathlib import Path

POLL_S = 1.0


def _require_submitit():
    try:
        import submitit
    except ImportError:
        raise ValueError("the submitit launcher needs submitit: pip install 'dann[slurm]'") from None
    return submitit


class SubmititLauncher:
    """Each job a Slurm job (submitit's AutoExecutor); ``cluster=local`` runs them as local processes.

    At most ``--workers`` jobs are queued or running at a time; a job that Slurm kills (time limit,
    preemption, a lost node) is interrupted and is resumed from its last checkpoint by the next launch.

    Options:
      cluster: "" (Slurm when available, else local), "slurm", "local" or "debug".
      folder: where submitit keeps its logs ("": SWEEP/submitit next to the jobs).
      partition: Slurm partition ("": the default).
      timeout_min: time limit of each job in minutes.
      cpus_per_job: CPUs per job (also its torch threads).
      gpus_per_job: GPUs per job.
      mem_gb: memory per job in GB (0: the cluster's default).
    """

    def __init__(self, workers: int, cluster: str = "", folder: str = "", partition: str = "", timeout_min: int = 60,
                 cpus_per_job: int = 1, gpus_per_job: int = 0, mem_gb: int = 0) -> None:
        if cluster not in ("", "slurm", "local", "debug"):
            raise ValueError(f"submitit launcher: cluster must be '', 'slurm', 'local' or 'debug', got '{cluster}'")
        for name, value, low in (("timeout_min", timeout_min, 1), ("cpus_per_job", cpus_per_job, 1), ("gpus_per_job", gpus_per_job, 0), ("mem_gb", mem_gb, 0)):
            if value < low:
                raise ValueError(f"submitit launcher: {name} must be ≥ {low}, got {value}")
        _require_submitit()
        self.workers, self.cluster, self.folder, self.partition = workers, cluster, folder, partition
        self.timeout_min, self.cpus, self.gpus, self.mem_gb = timeout_min, cpus_per_job, gpus_per_job, mem_gb

    def executor(self, tasks):
        submitit = _require_submitit()
        folder = self.folder or str(Path(tasks[0].job_dir).parent.parent / "submitit")
        executor = submitit.AutoExecutor(folder=folder, cluster=self.cluster or None)
        parameters = {"timeout_min": self.timeout_min, "cpus_per_task": self.cpus, "name": "dann-job"}
        if self.gpus:
            parameters["gpus_per_node"] = self.gpus
        if self.mem_gb:
            parameters["mem_gb"] = self.mem_gb
        if self.partition:
            parameters["slurm_partition"] = self.partition
        executor.update_parameters(**parameters)
        return executor

    def launch(self, tasks, report) -> None:
        if not tasks:
            return
        executor = self.executor(tasks)
        waiting, running = list(tasks), {}
        try:
            while waiting or running:
                while waiting and len(running) < self.workers:
                    task = waiting.pop(0)
                    running[task] = executor.submit(task.run, self.cpus)
                    report(task, "started")
                for task, job in list(running.items()):
                    if job.done():
                        _ = job.exception()  # the outcome is read from the job's directory, not from here
                        del running[task]
                        report(task, "ended")
                time.sleep(POLL_S)
        except KeyboardInterrupt:
            for job in running.values():
                job.cancel(check=False)  # Slurm sends SIGTERM: the job ends resumable
            raise
