"""What can be checked on a machine without a GPU about the CUDA binding (csrc/cuda/cuda_ops.cpp)
staying capturable: the schemas' tags, and its source (no host reads of device values, a device
guard and the current stream in every op). The behaviour itself is tested on a GPU in
test_cuda_ops.py (CUDA graphs, set_sync_debug_mode); the kernels on the CPU by host_emulation/.
"""
from __future__ import annotations

import os
import re

import pytest
import torch

from dann_core.ops import dispatch

BINDING = os.path.join(os.path.dirname(__file__), "..", "..", "csrc", "cuda", "cuda_ops.cpp")
OPS = ("grl_backward", "split_reverse_backward", "domain_bce", "domain_ce", "grl_linear_backward")


def _source() -> str:
    with open(BINDING) as f:
        text = f.read()
    text = re.sub(r"//[^\n]*", "", text)  # comments may name what the code must not do
    return re.sub(r'"(?:[^"\\]|\\.)*"', '""', text)


def _body(src: str, name: str) -> str:
    start = src.index("{", re.search(rf"\b{name}\s*\(", src).start())
    depth = 0
    for i in range(start, len(src)):
        depth += {"{": 1, "}": -1}.get(src[i], 0)
        if depth == 0:
            return src[start:i + 1]
    raise AssertionError(f"unbalanced braces in {name}")


@pytest.mark.skipif(not dispatch.build_info().get("compiled"), reason="dann_core._C is not built")
@pytest.mark.parametrize("op", OPS)
def test_schemas_are_pt2_compliant_and_capturable(op):
    tags = getattr(torch.ops.dann, op).default.tags
    assert torch.Tag.pt2_compliant_tag in tags
    assert getattr(torch.Tag, "cudagraph_unsafe", None) not in tags


@pytest.mark.parametrize(
    "pattern,why",
    [
        (r"\.item\s*[<(]", "item() reads a device value on the host (a sync) or freezes a CPU λ into a graph"),
        (r"\.cpu\s*\(|at::kCPU|\.to\s*\(\s*at::Device", "a copy to the host is a sync"),
        (r"cudaDeviceSynchronize|cudaStreamSynchronize|cudaEventSynchronize", "an explicit sync"),
        (r"cudaMemcpy\s*\(", "a synchronous copy"),
        (r"\.equal\s*\(|is_nonzero|\.any\s*\(\s*\)\s*\.", "a host-side test of device values"),
    ],
    ids=["item", "copy-to-host", "explicit-sync", "sync-memcpy", "host-test"],
)
def test_binding_never_waits_for_the_gpu(pattern, why):
    match = re.search(pattern, _source())
    assert match is None, f"cuda_ops.cpp: {match.group(0)!r}: {why}"


@pytest.mark.parametrize("op", OPS)
def test_every_op_guards_the_device_and_uses_the_current_stream(op):
    src = _source()
    body = _body(src, f"{op}_cuda")
    assert "CUDAGuard" in body, f"{op}_cuda launches without a device guard"
    launches = "current_stream()" in body or re.search(r"\bat::(mm|addmm)", body)
    assert launches, f"{op}_cuda launches on no visible stream"
