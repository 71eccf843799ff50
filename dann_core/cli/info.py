"""``dann info``: versions, the kernel backend per device and the extension's build facts."""
from __future__ import annotations

import json
import platform

import click

from .. import __version__
from . import common


@click.command("info")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def info_command(as_json: bool) -> None:
    """Versions of Python, torch and dann; the kernel backend per device; the extension's build facts."""
    import warnings

    import torch

    from .. import ops

    with common.user_errors():
        ops.dispatch.check_environment()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the missing-extension warning: the backend line says it
        devices = ["cpu"] + [f"cuda:{i}" for i in range(torch.cuda.device_count())]
        backends = {device: _backend(ops, device) for device in devices}
    info = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "dann": __version__,
        "cuda_available": torch.cuda.is_available(),
        "cuda_version": torch.version.cuda,
        "kernel_mode": ops.dispatch.get_mode(),
        "backends": backends,
        "build_info": ops.build_info(),
    }
    if as_json:
        click.echo(json.dumps(info, indent=2, default=str))
        return
    for key in ("python", "torch", "dann", "cuda_available", "cuda_version", "kernel_mode"):
        click.echo(f"{key:<15} {info[key]}")
    for device, name in backends.items():
        click.echo(f"{'backend ' + device:<15} {name}")
    click.echo(f"{'cpu capability':<15} {ops.dispatch.describe_cpu_capability()}")
    click.echo("build_info      " + json.dumps(info["build_info"], default=str))


def _backend(ops, device: str) -> str:
    try:
        return ops.backend(device)
    except RuntimeError as exc:
        return f"unavailable ({common.first_line(exc)})"
