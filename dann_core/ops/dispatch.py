"""Chooses, per call, between the compiled kernel (``torch.ops.dann``) and the reference.

The choice is read from ``DANN_KERNELS`` once at import (``set_mode`` changes it later), so that code
traced by ``torch.compile`` sees plain module state and never touches the environment. A bad value
does not break the import: choosing a backend then raises ValueError naming the variable.
"""
from __future__ import annotations

import os
import warnings

import torch

from . import reference

MODES = ("auto", "ext", "reference")


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
_mode = "auto"
_warned: set[str] = set()
_env_error = ""


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
    if _mode == "reference":
        return getattr(reference, name)
    if _env_error:
        raise ValueError(_env_error)
    missing = _kernel_missing(like.device.type)
    if not missing:
        return getattr(torch.ops.dann, name).default  # the overload itself: no per-call overload lookup
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


def build_info() -> dict:
    """Build facts of the compiled extension (CUDA? archs, OpenMP threads, SIMD level) or why it is absent."""
    if _C is None:
        return {"compiled": False, "reason": _missing_reason}
    return {"compiled": True, **_C.build_info()}


try:
    set_mode(os.environ.get("DANN_KERNELS", "auto"))
except ValueError:
    _env_error = f"DANN_KERNELS={os.environ['DANN_KERNELS']!r} is not one of {', '.join(MODES)}; unset it or pick one"
