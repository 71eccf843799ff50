"""``SGD``: torch.optim.SGD, less the import of torch._dynamo that its methods do on first use.

Every torch optimiser's ``add_param_group``, ``zero_grad``, ``state_dict`` and ``load_state_dict``
are wrapped by ``torch._disable_dynamo`` and its ``step`` by ``_use_grad_for_differentiable``; both
wrappers import torch._dynamo (and sympy, triton...) when first called: 0.9 s on a 2-core CPU, a
fifth of a default moons run. They only matter while dynamo traces. This subclass calls the
methods they wrap (``__wrapped__``, kept by ``functools.wraps``) unless torch._dynamo is already
imported (``--compile``, or a user's own ``torch.compile``): then it is torch's SGD, wrappers and
all. Same update, same state, same checkpoints (tests/core/test_sgd.py). A torch whose wrappers lose
``__wrapped__`` gets torch's methods, import included.
"""
from __future__ import annotations

import sys
from typing import Any, Callable

import torch


def _dynamo_loaded() -> bool:
    return "torch._dynamo" in sys.modules


def _unwrapped(name: str) -> Callable[..., Any]:
    wrapped = getattr(torch.optim.SGD, name)
    inner = getattr(wrapped, "__wrapped__", None)

    def method(self, *args: Any, **kwargs: Any) -> Any:
        if inner is None or _dynamo_loaded():
            return wrapped(self, *args, **kwargs)
        return inner(self, *args, **kwargs)

    method.__name__ = method.__qualname__ = name
    method.__doc__ = wrapped.__doc__
    return method


def _torch_step() -> Callable[..., Any]:
    """torch.optim.SGD.step as torch defines it: without the step-hook layer that Optimizer.__init__
    puts on a class the first time one is built (SGD gets its own; through torch's, every step hook
    would run twice)."""
    step = torch.optim.SGD.step
    return step.__wrapped__ if getattr(step, "hooked", False) else step


_TORCH_STEP = _torch_step()
_STEP = getattr(_TORCH_STEP, "__wrapped__", None)


class SGD(torch.optim.SGD):
    """torch.optim.SGD that leaves torch._dynamo unimported until something else imports it."""

    add_param_group = _unwrapped("add_param_group")
    zero_grad = _unwrapped("zero_grad")
    state_dict = _unwrapped("state_dict")
    load_state_dict = _unwrapped("load_state_dict")

    def step(self, closure=None):  # type: ignore[override]
        """One SGD step (torch.optim.SGD.step, under no_grad as its wrapper runs it when not differentiable)."""
        if _STEP is None or _dynamo_loaded() or self.defaults.get("differentiable"):
            return _TORCH_STEP(self, closure)
        with torch.no_grad():
            return _STEP(self, closure)
