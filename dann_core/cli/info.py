"""``dann info``: versions, the kernel backend per device and the extension's build facts.

Nearly all of its time is ``import torch`` (about 3 s of CPU for the CUDA wheel, the same whether or
not a GPU is present; 20 s and more of wall clock on a busy machine): the backends and build facts
need torch, which loads the compiled extension. So the facts that need no torch (versions read from
the installed packages' metadata, the automatic thread count and the OpenMP wait policy) are printed
at once, and a line says torch is loading before the rest follows.
"""
from __future__ import annotations

import json
import os
import platform
from importlib import metadata

import click

from .. import __version__
from . import common


def _installed_version(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def _quick_facts() -> dict:
    """What dann info reports without importing torch."""
    from ..machine import machine_cores, wait_policy  # torch-free (dann_core.train would import torch)

    return {
        "python": platform.python_version(),
        "torch": _installed_version("torch"),
        "dann": __version__,
        "kernel_mode": os.environ.get("DANN_KERNELS", "auto"),
        "threads_auto": machine_cores(),
        "openmp_wait": wait_policy(),
    }


@click.command("info")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def info_command(as_json: bool) -> None:
    """Versions of Python, torch and dann; the kernel backend per device; the extension's build facts."""
    info = _quick_facts()
    if not as_json:
        for key in ("python", "torch", "dann", "threads_auto", "openmp_wait"):
            click.echo(f"{key:<15} {info[key]}")
        click.echo("(importing torch for the kernel backends: a few seconds)", err=True)
    info.update(_torch_facts())
    if as_json:
        click.echo(json.dumps(info, indent=2, default=str))
        return
    for key in ("cuda_available", "cuda_version", "kernel_mode"):
        click.echo(f"{key:<15} {info[key]}")
    for device, name in info["backends"].items():
        click.echo(f"{'backend ' + device:<15} {name}")
    click.echo(f"{'cpu capability':<15} {info['cpu_capability']}")
    click.echo("build_info      " + json.dumps(info["build_info"], default=str))


def _torch_facts() -> dict:
    import warnings

    common.import_torch()
    import torch

    from .. import ops

    with common.user_errors():
        ops.dispatch.check_environment()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the missing-extension warning: the backend line says it
        devices = ["cpu"] + [f"cuda:{i}" for i in range(torch.cuda.device_count())]
        backends = {device: _backend(ops, device) for device in devices}
    return {
        "torch": torch.__version__,
        "cuda_available": torch.cuda.is_available(),
        "cuda_version": torch.version.cuda,
        "kernel_mode": ops.dispatch.get_mode(),
        "backends": backends,
        "build_info": ops.build_info(),
        "cpu_capability": ops.dispatch.describe_cpu_capability(),
    }


def _backend(ops, device: str) -> str:
    try:
        return ops.backend(device)
    except RuntimeError as exc:
        return f"unavailable ({common.first_line(exc)})"
