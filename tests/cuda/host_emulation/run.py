"""Checks the CUDA kernels of csrc/cuda/ on the CPU: compiles them as host C++ against a small
emulation of the CUDA device features they use (emu.h), then compares every launcher with
dann_core.ops.reference, the oracle, over all dtypes, odd sizes, λ on host/device, misaligned
inputs, label dtypes, ties/NaN/inf, bad labels and run-to-run determinism.

    python tests/cuda/host_emulation/run.py                  # sizes 1,7 (about a minute on 2 cores)
    python tests/cuda/host_emulation/run.py --sizes 1023 --big

For machines without a GPU; the real tests are tests/cuda/test_cuda_ops.py. Blocks run with
--threads threads (default 64: two warps, so the block reductions still combine several warps)
instead of 256, since every emulated thread is an OS thread; the kernels' logic does not depend on it.
Kernel launches `k<<<g, b, s, st>>>(a)` are rewritten to `emu_launch(g, b, [&] { k(a); })`.
Float math runs in the device's types (emu.h gives fabs/exp/log... their float overloads); a barrier
or shuffle not reached by every thread it names fails after EMU_TIMEOUT_S seconds instead of hanging,
a shuffle mask that leaves out the caller or the source lane fails, and a failed launch is reported
by the launcher's cudaGetLastError(), as on a GPU. Self-tests of those checks run first.

What it cannot see: the binding (csrc/cuda/cuda_ops.cpp: contiguity, device guards, streams, how λ
reaches the kernel, the pinned bad-label flag), which needs ATen's CUDA tensors (tests/cuda/
test_capture_safety.py checks its source on the CPU; the rest only the GPU tests can); real warp
scheduling and the memory model (the emulated threads are sequentially consistent and run lanes in
lock step only at shuffles and barriers, so a missing __syncwarp or fence passes here); the GPU's
expf/logf/log1pf (glibc's are used, so losses are compared with tolerances, not bits); launch limits
beyond the block size, occupancy, shared-memory size, alignment faults and speed.
"""
from __future__ import annotations

import argparse
import ctypes as C
import os
import re
import subprocess
import tempfile

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
CSRC = os.path.join(HERE, "..", "..", "..", "csrc", "cuda")
LAUNCH = re.compile(r"((?:\w|::)+(?:<[^<>;]*>)?)\s*<<<\s*([^,]+?),\s*([^,]+?),\s*[^,]+?,\s*[^>]+?>>>\s*\((.*?)\);", re.S)


def build(out_dir: str, threads: int) -> str:
    with open(os.path.join(CSRC, "common.cuh")) as f:
        common = f.read()
    common, n = re.subn(r"constexpr int kThreads = \d+;", f"constexpr int kThreads = {threads};", common)
    assert n == 1, "kThreads not found in common.cuh"
    with open(os.path.join(out_dir, "common.cuh"), "w") as f:
        f.write(common)
    sources = [os.path.join(HERE, "wrappers.cpp")]
    for name in sorted(os.listdir(CSRC)):
        if name.endswith(".cu") and name != "cuda_info.cu":
            with open(os.path.join(CSRC, name)) as f:
                src = f.read()
            src = LAUNCH.sub(lambda m: f"emu_launch({m.group(2)}, {m.group(3)}, [&] {{ {m.group(1)}({m.group(4)}); }});", src)
            assert "<<<" not in src, f"a launch in {name} was not rewritten"
            path = os.path.join(out_dir, name + ".cpp")
            with open(path, "w") as f:
                f.write(src)
            sources.append(path)
    lib = os.path.join(out_dir, "libemu.so")
    cuda_include = os.environ.get("CUDA_HOME", "/usr/local/cuda") + "/include"
    cmd = ["g++", "-std=c++20", "-O1", "-fPIC", "-shared", "-pthread", "-include", os.path.join(HERE, "emu.h"),
           f"-I{out_dir}", f"-I{CSRC}", f"-I{cuda_include}", *sources, "-o", lib]
    subprocess.run(cmd, check=True)
    return lib


parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--sizes", default="1,7", type=lambda s: [int(v) for v in s.split(",")])
parser.add_argument("--threads", default=64, type=int, help="threads per block (a multiple of 32, <= 256)")
parser.add_argument("--big", action="store_true", help="also n = 100003 (grid-stride wrap-around; minutes)")
opts = parser.parse_args()
from dann_core.ops import reference  # noqa: E402

_tmp = tempfile.TemporaryDirectory()
lib = C.CDLL(build(_tmp.name, opts.threads))
for f in ("emu_grl", "emu_split", "emu_bce", "emu_ce", "emu_selftest"):
    getattr(lib, f).restype = C.c_int
lib.emu_ws.restype = C.c_int64
lib.emu_message.restype = C.c_char_p


def launched(rc: int) -> None:
    """Raises like C10_CUDA_CHECK would when an emulated launch failed."""
    if rc != 0:
        raise RuntimeError(f"emulated launch failed (cudaError {rc}): {lib.emu_message().decode()}")


def self_test() -> None:
    """The emulation must fail, promptly and with a reason, where a GPU would misbehave."""
    old = os.environ.get("EMU_TIMEOUT_S")
    os.environ["EMU_TIMEOUT_S"] = "1"
    try:
        for which, want in ((0, "divergent"), (1, "outside its mask"), (2, "divergent"), (3, "threads")):
            rc = lib.emu_selftest(which)
            msg = lib.emu_message().decode()
            assert rc != 0 and want in msg, f"self-test {which}: rc {rc}, message {msg!r}"
        assert lib.emu_selftest(4) == 0, "a correct partial-mask shuffle failed: " + lib.emu_message().decode()
    finally:
        if old is None:
            del os.environ["EMU_TIMEOUT_S"]
        else:
            os.environ["EMU_TIMEOUT_S"] = old
    print("emulation self-tests ok", flush=True)
T = {torch.float32: 0, torch.float64: 1, torch.float16: 2, torch.bfloat16: 3}
CODE = {torch.float32: 0, torch.float64: 1, torch.float16: 2, torch.bfloat16: 3, torch.bool: 4, torch.uint8: 5,
        torch.int8: 6, torch.int16: 7, torch.int32: 8, torch.int64: 9, torch.uint16: 10, torch.uint32: 11, torch.uint64: 12}
P = lambda t: C.c_void_p(t.data_ptr()) if t is not None else C.c_void_p(0)
I64 = C.c_int64

def grl(g, lam, host=True):
    g = g.contiguous(); out = torch.empty_like(g)
    lp, ld, lh = (C.c_void_p(0), 0, C.c_double(float(lam))) if host else (P(lam), CODE[lam.dtype], C.c_double(0))
    launched(lib.emu_grl(T[g.dtype], P(g), P(out), I64(g.numel()), lp, ld, lh))
    return out

def split(gl, gd, nl, lam, host=True):
    gd = gd.contiguous(); gl = gl.contiguous() if gl is not None else None; out = torch.empty_like(gd)
    lp, ld, lh = (C.c_void_p(0), 0, C.c_double(float(lam))) if host else (P(lam), CODE[lam.dtype], C.c_double(0))
    launched(lib.emu_split(T[gd.dtype], P(gl), P(gd), P(out), I64(gd.numel()), I64(gl.numel() if gl is not None else 0), lp, ld, lh))
    return out

def flagged(loss, grad, corr, bad, value):
    """The binding's deferred label error: a set flag raises; the flagged call's loss and grad hold NaNs."""
    if int(bad):
        assert int(bad) == value, (int(bad), value)
        assert bool(loss.isnan().any()) and bool(grad.isnan().any()), "bad rows must get NaN loss and gradient"
        raise ValueError("bad")
    return loss, grad, corr

def bce(z, labels, ns, w, red, bad=None):
    n = z.shape[0]; zc = z.contiguous()
    lab = labels.reshape(n).contiguous() if labels is not None else None
    wc = w.contiguous() if w is not None else None
    r = {"none": 0, "mean": 1, "sum": 2}[red]
    loss = torch.empty(n if r == 0 else (), dtype=z.dtype); grad = torch.empty(z.shape, dtype=z.dtype)
    corr = torch.empty((), dtype=torch.int64); bad = torch.zeros((), dtype=torch.int64) if bad is None else bad
    ws = torch.empty(lib.emu_ws(I64(n)), dtype=torch.uint8)
    launched(lib.emu_bce(T[z.dtype], P(zc), I64(n), P(lab), CODE[lab.dtype] if lab is not None else -1, I64(ns), P(wc),
                       CODE[wc.dtype] if wc is not None else -1, r, P(loss), P(grad), C.c_void_p(corr.data_ptr()),
                       C.c_void_p(bad.data_ptr()), P(ws)))
    return flagged(loss, grad, corr, bad, 2)

def ce(z, labels, w, red):
    n, k = z.shape; zc = z.contiguous(); lab = labels.contiguous(); wc = w.contiguous() if w is not None else None
    r = {"none": 0, "mean": 1, "sum": 2}[red]
    loss = torch.empty(n if r == 0 else (), dtype=z.dtype); grad = torch.empty(n, k, dtype=z.dtype)
    corr = torch.empty((), dtype=torch.int64); bad = torch.zeros((), dtype=torch.int64)
    ws = torch.empty(lib.emu_ws(I64(n)), dtype=torch.uint8)
    launched(lib.emu_ce(T[z.dtype], P(zc), I64(n), I64(k), P(lab), CODE[lab.dtype], P(wc), CODE[wc.dtype] if wc is not None else -1,
                      r, P(loss), P(grad), C.c_void_p(corr.data_ptr()), C.c_void_p(bad.data_ptr()), P(ws)))
    return flagged(loss, grad, corr, bad, k)

TOL = {torch.float32: (1e-5, 1e-5), torch.float64: (1e-12, 1e-10), torch.bfloat16: (1e-2, 1.6e-2), torch.float16: (1e-3, 1e-3)}
def check(got, exp, dtype, exact=False, what=""):
    got = got if isinstance(got, tuple) else (got,); exp = exp if isinstance(exp, tuple) else (exp,)
    for g, e in zip(got, exp):
        assert g.shape == e.shape and g.dtype == e.dtype, (what, g.shape, e.shape, g.dtype, e.dtype)
        if not g.is_floating_point():
            assert torch.equal(g, e), (what, g, e); continue
        if exact:
            assert torch.equal(g, e) or torch.testing.assert_close(g, e, atol=0, rtol=0, equal_nan=True) is None, what
            continue
        a, r = TOL[dtype]
        scale = float(e.abs().nan_to_num(0, 0, 0).max()) if e.numel() else 1.0
        floor = 2.0**-24 if g.dtype == torch.float16 else float(torch.finfo(g.dtype).tiny)
        torch.testing.assert_close(g, e, atol=max(a * scale, floor), rtol=r, equal_nan=True, msg=lambda m: what + m)

self_test()
sizes = opts.sizes
n_checks = 0
for dtype in T:
    for n in sizes:
        tag = f"{dtype}-n{n}"
        g = (torch.randn(n, 3) * 3).to(dtype)
        for lam in (torch.tensor(0.37), torch.tensor(0.37, dtype=torch.float64), torch.tensor(0.37, dtype=torch.bfloat16), torch.tensor(0.37, dtype=dtype)):
            for host in (True, False):
                exp = reference.grl_backward(g, lam)
                check(grl(g, lam, host), exp, dtype, exact=True, what=tag + " grl")
                mis = torch.empty(g.numel() + 1, dtype=dtype)[1:].view(g.shape); mis.copy_(g)
                check(grl(mis, lam, host), exp, dtype, exact=True, what=tag + " grl-mis")
                n_checks += 2
        lam = torch.tensor(0.37)
        for nl in sorted({0, n // 2, n // 3 + 1, n}):
            gl = (torch.randn(nl, 3) * 3).to(dtype)
            for host in (True, False):
                check(split(gl, g, nl, lam, host), reference.split_reverse_backward(gl, g, nl, lam), dtype, exact=True, what=tag + f" split{nl}")
                check(split(None, g, nl, lam, host), reference.split_reverse_backward(None, g, nl, lam), dtype, exact=True, what=tag + " split-none")
                glm = torch.empty(gl.numel() + 1, dtype=dtype)[1:].view(gl.shape); glm.copy_(gl)
                check(split(glm, g, nl, lam, host), reference.split_reverse_backward(gl, g, nl, lam), dtype, exact=True, what=tag + " split-mis")
                n_checks += 3
        z = (torch.randn(n) * 3).to(dtype)
        y = torch.randint(0, 2, (n,)); w = torch.rand(n)
        for red in ("mean", "sum", "none"):
            for args in [(z, None, n // 3, None), (z, None, 0, w.to(dtype)), (z, y, 0, w), (z[:, None], y.bool()[:, None], 0, None),
                         (z, y.float(), 0, w.double()), (z, y.to(torch.uint8), 0, w.half()), (z, y.to(torch.int16), 0, w.bfloat16())]:
                check(bce(*args, red), reference.domain_bce(*args, red), dtype, what=tag + f" bce-{red}")
                n_checks += 1
        for k in (1, 2, 3, 8, 9, 10, 64, 65, 200) if n <= 1023 else (4, 10, 100):
            zc = (torch.randn(n, k) * 3).to(dtype)
            yc = torch.randint(0, k, (n,))
            for red in ("mean", "sum", "none"):
                for args in [(zc, yc, None), (zc, yc.int(), w), (zc, yc.to(torch.uint8), w.to(dtype))]:
                    check(ce(*args, red), reference.domain_ce(*args, red), dtype, what=tag + f" ce-k{k}-{red}")
                    n_checks += 1
        print(tag, "ok", flush=True)
# bad labels
for lab in (torch.tensor([0, 1, 2, 0]), torch.tensor([0., 1., 0.5, 0.]), torch.tensor([0., float("nan"), 1., 0.]),
            torch.tensor([0, 1, 2**53 + 1, 0]), torch.tensor([0, 1, -1, 0], dtype=torch.int8)):
    try: bce(torch.ones(4), lab, 0, None, "mean"); raise AssertionError("no error")
    except ValueError: pass
for lab in (torch.tensor([0, 1, 3, 0]), torch.tensor([0, -1, 2, 0], dtype=torch.int32), torch.tensor([0, 1, 255, 0], dtype=torch.uint8)):
    try: ce(torch.ones(4, 3), lab, None, "mean"); raise AssertionError("no error")
    except ValueError: pass
# the flag is sticky: a later good call neither clears it nor sets it
flag = torch.zeros((), dtype=torch.int64)
bce(torch.ones(4), torch.tensor([0, 1, 1, 0]), 0, None, "sum", bad=flag)
assert int(flag) == 0
try: bce(torch.ones(4), torch.tensor([0, 1, 3, 0]), 0, None, "sum", bad=flag); raise AssertionError("no error")
except ValueError: pass
loss, _, corr = bce(torch.ones(4), torch.tensor([0, 1, 1, 0]), 0, None, "sum", bad=torch.zeros((), dtype=torch.int64))
assert torch.isfinite(loss) and int(corr) == 2
flag2 = flag.clone()
try: bce(torch.ones(4), torch.tensor([0, 1, 1, 0]), 0, None, "sum", bad=flag2)
except (ValueError, AssertionError): pass
assert int(flag2) == 2
# ties / nan / inf
zt = torch.tensor([[1.0, 1.0, 0.0], [0.0, 2.0, 2.0], [float("nan"), 5.0, float("nan")], [-float("inf"), 0.0, 0.0]])
yt = torch.tensor([0, 1, 0, 2])
check(ce(zt, yt, None, "none"), reference.domain_ce(zt, yt, None, "none"), torch.float32, what="ties")
zt4 = torch.tensor([[5.0, float("nan"), 1.0] + [0.0] * 20, [0.0] * 22 + [3.0]])
check(ce(zt4, torch.tensor([1, 22]), None, "none"), reference.domain_ce(zt4, torch.tensor([1, 22]), None, "none"), torch.float32, what="nan-g8")
zb = torch.tensor([1e4, -1e4, 80.0, -80.0, 0.0]); yb = torch.tensor([1, 0, 0, 1, 1])
check(bce(zb, yb, 0, None, "none"), reference.domain_bce(zb, yb, 0, None, "none"), torch.float32, what="huge")
# determinism
z = torch.randn(300001)
a, b = bce(z, None, 1000, None, "sum"), bce(z, None, 1000, None, "sum")
assert all(torch.equal(x, y) for x, y in zip(a, b))
print("all ok:", n_checks, "checks")

if opts.big:
    torch.manual_seed(1)
    n = 100003
    for dtype in (torch.float32, torch.bfloat16):
        g = (torch.randn(n, 3) * 3).to(dtype); lam = torch.tensor(0.6)
        check(grl(g, lam), reference.grl_backward(g, lam), dtype, exact=True, what="grl-big")
        gl = (torch.randn(n // 3 + 1, 3) * 3).to(dtype)
        check(split(gl, g, n // 3 + 1, lam, False), reference.split_reverse_backward(gl, g, n // 3 + 1, lam), dtype, exact=True, what="split-big")
        z = (torch.randn(n) * 3).to(dtype); y = torch.randint(0, 2, (n,)); w = torch.rand(n)
        for red in ("sum", "none"):
            check(bce(z, y, 0, w, red), reference.domain_bce(z, y, 0, w, red), dtype, what="bce-big-" + red)
        zc = (torch.randn(n, 3) * 3).to(dtype); yc = torch.randint(0, 3, (n,))
        check(ce(zc, yc, w, "mean"), reference.domain_ce(zc, yc, w, "mean"), dtype, what="ce-big")
        zc = (torch.randn(20000, 70) * 3).to(dtype); yc = torch.randint(0, 70, (20000,))
        check(ce(zc, yc, None, "sum"), reference.domain_ce(zc, yc, None, "sum"), dtype, what="ce-big-k70")
        print(dtype, "big ok", flush=True)
