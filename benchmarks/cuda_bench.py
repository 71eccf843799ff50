"""Times each CUDA kernel of ``torch.ops.dann`` against the PyTorch reference (eager and
``torch.compile``) and against a device copy that moves the same number of bytes. GPU only.

    python benchmarks/cuda_bench.py                    # fp32 + bf16, n = 256 and 4M, all ops
    python benchmarks/cuda_bench.py --quick            # n = 4M only, no torch.compile (seconds)
    python benchmarks/cuda_bench.py --csv results.csv  # also append rows (with the GPU's name)

Timing: CUDA events around ``--inner`` back-to-back calls, median over ``--reps`` repetitions, in µs
per call. That includes launch gaps, which is what a DANN step pays at small batch sizes. The copy
baseline (``dst.copy_(src)`` of half the bytes the op reads plus writes) is the memory-bound floor;
ratios: ref/ext and compile/ext are speed-ups of the kernel, ext/copy is how far from the floor.
"""
from __future__ import annotations

import argparse
import csv
import os
import statistics
import sys
import time

import torch
import torch._dynamo  # noqa: F401  (torch.compile's counters; importing it inside main() shadowed torch)


def time_us(fn, reps: int, inner: int) -> float:
    for _ in range(3):
        fn()
    torch.cuda.synchronize()
    samples = []
    for _ in range(reps):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(inner):
            fn()
        end.record()
        end.synchronize()
        samples.append(start.elapsed_time(end) * 1000.0 / inner)
    return statistics.median(samples)


def copy_fn(n_bytes: int):
    """A copy that reads n_bytes/2 and writes n_bytes/2: the same traffic as an op moving n_bytes."""
    half = max(1, n_bytes // 2)
    src = torch.empty(half, dtype=torch.uint8, device="cuda").random_(0, 255)
    dst = torch.empty_like(src)
    return lambda: dst.copy_(src)


def cases(dtype: torch.dtype, n: int):
    """(name, args, bytes moved by the op) per op at size n; args are the schema's positional args."""
    el = torch.tensor([], dtype=dtype).element_size()
    g = torch.Generator(device="cuda").manual_seed(0)

    def randn(*shape):
        return torch.randn(*shape, generator=g, device="cuda").to(dtype)

    lam_gpu = torch.tensor(0.5, device="cuda")
    lam_cpu = torch.tensor(0.5)
    grad = randn(n)
    yield "grl_backward(λ gpu)", "grl_backward", (grad, lam_gpu), 2 * n * el
    yield "grl_backward(λ cpu)", "grl_backward", (grad, lam_cpu), 2 * n * el
    yield "grl_backward(λ pinned)", "grl_backward", (grad, lam_cpu.pin_memory()), 2 * n * el  # + a 4-byte copy
    rows, cols = max(1, n // 256), 256 if n >= 256 else n
    gd = randn(rows, cols)
    gl = randn(rows // 2, cols)
    yield "split_reverse_backward", "split_reverse_backward", (gl, gd, rows // 2, lam_gpu), (2 * gd.numel() + gl.numel()) * el
    z = randn(n)
    yield "domain_bce(n_source)", "domain_bce", (z, None, n // 2, None, "mean"), 2 * n * el
    yield "domain_bce(labels,w)", "domain_bce", (
        z,
        torch.randint(0, 2, (n,), device="cuda"),
        0,
        torch.rand(n, device="cuda"),
        "mean",
    ), 2 * n * el + n * 8 + n * 4
    k = 4
    zc = randn(max(1, n // k), k)
    yc = torch.randint(0, k, (zc.shape[0],), device="cuda")
    yield "domain_ce(K=4)", "domain_ce", (zc, yc, None, "mean"), 2 * zc.numel() * el + yc.numel() * 8
    # A DANN discriminator's first layer: features (B, 1024) -> 1024 hidden units, B = n / 1024.
    b = max(1, n // 1024)
    x, w, gy = randn(b, 1024), randn(1024, 1024), randn(b, 1024)
    yield "grl_linear_backward", "grl_linear_backward", (gy, x, w, lam_cpu), (3 * x.numel() + 2 * w.numel() + gy.numel()) * el


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dtypes", default="float32,bfloat16", help="comma list of float32,float64,bfloat16,float16")
    parser.add_argument("--sizes", default="256,4194304", help="comma list of element counts")
    parser.add_argument("--ops", default="", help="only cases whose name contains one of these (comma list)")
    parser.add_argument("--reps", type=int, default=25)
    parser.add_argument("--inner", type=int, default=20)
    parser.add_argument("--no-compile", action="store_true", help="skip torch.compile(reference)")
    parser.add_argument("--quick", action="store_true", help="--sizes 4194304 --no-compile --reps 10")
    parser.add_argument("--csv", help="append the results to this CSV file")
    args = parser.parse_args()
    if args.quick:
        args.sizes, args.no_compile, args.reps = "4194304", True, 10

    if not torch.cuda.is_available():
        print("cuda_bench.py needs a CUDA GPU", file=sys.stderr)
        return 2
    from dann_core.ops import dispatch, reference

    info = dispatch.build_info()
    if not info.get("cuda"):
        print(f"dann_core._C has no CUDA kernels: {info}", file=sys.stderr)
        return 2

    torch._dynamo.config.automatic_dynamic_shapes = False  # one static graph per shape, as in training
    for knob in ("cache_size_limit", "recompile_limit"):
        if hasattr(torch._dynamo.config, knob):
            setattr(torch._dynamo.config, knob, 256)
    compiled = {}

    gpu = torch.cuda.get_device_name()
    print(f"# {gpu}, torch {torch.__version__}, archs {info.get('cuda_archs')}, µs per call (median)")
    header = ["case", "dtype", "n", "ext_us", "ref_us", "compile_us", "copy_us", "ref/ext", "compile/ext", "ext/copy"]
    print(("{:<24}{:>10}{:>10}" + "{:>12}" * 4 + "{:>12}" * 3).format(*header))
    rows = []
    filters = [f for f in args.ops.split(",") if f]
    for dtype_name in args.dtypes.split(","):
        dtype = getattr(torch, dtype_name)
        for n in (int(s) for s in args.sizes.split(",")):
            for name, op, op_args, n_bytes in cases(dtype, n):
                if filters and not any(f in name for f in filters):
                    continue
                ext = getattr(torch.ops.dann, op)
                ref = getattr(reference, op)
                t_ext = time_us(lambda: ext(*op_args), args.reps, args.inner)
                t_ref = time_us(lambda: ref(*op_args), args.reps, args.inner)
                t_cmp = float("nan")
                if not args.no_compile:
                    fn = compiled.setdefault(op, torch.compile(ref))
                    t0 = time.perf_counter()
                    fn(*op_args)  # compile outside the timing
                    torch.cuda.synchronize()
                    if time.perf_counter() - t0 > 120:
                        print(f"# slow compile for {name}", file=sys.stderr)
                    t_cmp = time_us(lambda: fn(*op_args), args.reps, args.inner)
                t_copy = time_us(copy_fn(n_bytes), args.reps, args.inner)
                row = [name, dtype_name, n, t_ext, t_ref, t_cmp, t_copy, t_ref / t_ext, t_cmp / t_ext, t_ext / t_copy]
                rows.append(row)
                print(("{:<24}{:>10}{:>10}" + "{:>12.1f}" * 4 + "{:>12.2f}" * 3).format(*row), flush=True)
    if args.csv:
        new = not os.path.exists(args.csv)
        with open(args.csv, "a", newline="") as f:
            out = csv.writer(f)
            if new:
                out.writerow(["gpu", "torch", *header])
            for row in rows:
                out.writerow([gpu, torch.__version__, *row])
    return 0


if __name__ == "__main__":
    sys.exit(main())
