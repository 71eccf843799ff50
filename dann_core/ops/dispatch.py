"""Chooses, per call, between the compiled kernel (``torch.ops.dann``) and the reference.

The choice is read from ``DANN_KERNELS`` once at import (``set_mode`` changes it later), so that code
traced by ``torch.compile`` sees plain module state and never touches the environment. A bad value
does not break the import: choosing a backend then raises ValueError naming the variable.
"""
from __future__ import annotations

import contextlib
import os
import warnings
from typing import Iterator

import torch

from . import reference

MODES = ("auto", "ext", "reference")


OP_NAMES = ("grl_backward", "split_reverse_backward", "domain_bce", "domain_ce", "grl_linear_backward")


def _load_extension() -> tuple[object | None, str]:
    if os.environ.get("DANN_NO_EXT") == "1":
        return None, "DANN_NO_EXT=1 is set"
    try:
        from dann_core import _C
    except ImportError as exc:
        return None, f"the compiled extension dann_core._C is not built ({exc})"
    from . import registration  # noqa: F401  (fake kernels and autograd for torch.ops.dann)

    return _C, ""


_C, _missing_reason = _load_extension()
_CUDA_KERNELS = bool(_C is not None and _C.build_info()["cuda"])  # read once: impl() runs on every op call
# The overloads themselves (no per-call attribute lookups), and whether impl() may hand them out for a
# CPU tensor without further checks: at a training batch's size the Python around an op is its cost.
_OPS = {name: getattr(torch.ops.dann, name).default for name in OP_NAMES} if _C is not None else {}
_cpu_fast = False
_mode = "auto"
_warned: set[str] = set()
_env_error = ""


def _update_fast_path() -> None:
    global _cpu_fast
    _cpu_fast = _C is not None and _mode != "reference" and not _env_error


def check_environment() -> None:
    """Raise ValueError when ``DANN_KERNELS`` held a value that is not a mode."""
    if _env_error:
        raise ValueError(_env_error)


def set_mode(mode: str) -> None:
    """Select the kernels: 'auto' (compiled where available, else reference), 'ext' or 'reference'."""
    global _mode
    if mode not in MODES:
        raise ValueError(f"DANN_KERNELS must be one of {', '.join(MODES)}; got {mode!r}")
    _mode = mode
    _update_fast_path()


def get_mode() -> str:
    return _mode


def _kernel_missing(device_type: str) -> str:
    if _C is None:
        return _missing_reason
    if device_type in ("cpu", "meta"):
        return ""
    if device_type == "cuda":
        return "" if _CUDA_KERNELS else "dann_core._C was built without CUDA kernels"
    return f"dann_core._C has no kernels for {device_type} tensors"


def impl(name: str, like: torch.Tensor):
    """The function that runs op ``name`` for tensors on ``like``'s device under the current mode."""
    if _cpu_fast and like.is_cpu:
        return _OPS[name]
    if _mode == "reference":
        return getattr(reference, name)
    if _env_error:
        raise ValueError(_env_error)
    missing = _kernel_missing(like.device.type)
    if not missing:
        return _OPS[name]
    if _mode == "ext":
        raise RuntimeError(f"DANN_KERNELS=ext but {missing}; build it with `pip install --no-build-isolation -e .`")
    if missing not in _warned:
        _warned.add(missing)
        warnings.warn(f"dann: using the PyTorch reference ops because {missing}", RuntimeWarning, stacklevel=3)
    return getattr(reference, name)


def backend(device: str | torch.device = "cpu") -> str:
    """'ext' or 'reference': what the ops run on for tensors on ``device`` under the current mode."""
    check_environment()
    if _mode == "reference":
        return "reference"
    missing = _kernel_missing(torch.device(device).type)
    if missing and _mode == "ext":
        raise RuntimeError(f"DANN_KERNELS=ext but {missing}")
    return "reference" if missing else "ext"


def cpu_capability() -> str:
    """The SIMD tier the compiled CPU kernels run at now: 'default', 'avx2', 'avx512' or 'avx512_bf16'
    ('none' without the extension). The best the CPU has, unless ``DANN_CPU_CAPABILITY`` or
    :func:`set_cpu_capability` lowered it."""
    return _C.cpu_capability() if _C is not None else "none"


def cpu_capabilities() -> dict[str, list[str]]:
    """Every CPU tier of the build, lowest first, with the CPU flags it needs that this CPU lacks
    (an empty list: the tier runs here)."""
    return dict(_C.cpu_capabilities()) if _C is not None else {}


def describe_cpu_capability() -> str:
    """One line: the active tier, the tiers this CPU runs, and what it lacks for the next tier up."""
    if _C is None:
        return f"none ({_missing_reason})"
    tiers = cpu_capabilities()
    runs = [name for name, missing in tiers.items() if not missing]
    line = f"{cpu_capability()} (this CPU runs {', '.join(runs)}"
    above = [(name, missing) for name, missing in tiers.items() if missing]
    if above:
        line += f"; it lacks {', '.join(above[0][1])} for {above[0][0]}"
    return line + "; DANN_CPU_CAPABILITY lowers it)"


def set_cpu_capability(name: str) -> None:
    """Run the CPU kernels at tier ``name`` from now on, in every thread (tests and benchmarks use it to
    compare tiers in one process). ValueError, naming the missing CPU flags, for a tier this CPU lacks."""
    if _C is None:
        raise RuntimeError(f"no CPU kernels to switch: {_missing_reason}")
    _C.set_cpu_capability(name)


@contextlib.contextmanager
def using_cpu_capability(name: str) -> Iterator[None]:
    """``set_cpu_capability(name)`` for the duration of a ``with`` block."""
    previous = cpu_capability()
    set_cpu_capability(name)
    try:
        yield
    finally:
        set_cpu_capability(previous)


def build_info() -> dict:
    """Build facts of the compiled extension (CUDA? archs, OpenMP threads, CPU SIMD tier) or why it is absent."""
    if _C is None:
        return {"compiled": False, "reason": _missing_reason}
    return {"compiled": True, **_C.build_info()}


try:
    set_mode(os.environ.get("DANN_KERNELS", "auto"))
except ValueError:
    _env_error = f"DANN_KERNELS={os.environ['DANN_KERNELS']!r} is not one of {', '.join(MODES)}; unset it or pick one"
    _update_fast_path()
