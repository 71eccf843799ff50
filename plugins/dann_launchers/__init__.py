"""First-party dann launchers plugin: ``local``, ``submitit`` (Slurm) and ``ray``.

A launcher runs the jobs of ``dann sweep`` and ``dann table`` (``--launcher NAME[OPTION=VALUE,...]``,
``--workers N``); what a job is, and its state, live in ``dann_evaluation.jobs``. A launcher only
starts each task once on its engine and reports when it started and ended. Wired through the
``dann`` entry point ``launchers = "dann_launchers"``.
"""
from __future__ import annotations

from dann_core import hookimpl
from dann_core.specs import ComponentSpec


@hookimpl
def register_launchers() -> list[ComponentSpec]:
    """The built-in launchers."""
    return [
        ComponentSpec.from_reference("local", "dann_launchers.local:LocalLauncher"),
        ComponentSpec.from_reference("submitit", "dann_launchers.slurm:SubmititLauncher"),
        ComponentSpec.from_reference("ray", "dann_launchers.ray_cluster:RayLauncher"),
    ]
