"""Builds the one compiled extension, dann_core._C. Everything else is in pyproject.toml.

Which half is compiled (the first that applies; one line at the start of the build says which and why):

- ``DANN_NO_EXT=1``: no extension at all (the ops run their pure-PyTorch reference).
- ``DANN_NO_CUDA=1`` (or ``DANN_CUDA=0``): the CPU kernels only.
- ``DANN_CUDA=1``: the CUDA kernels too, GPU or not (a build machine for GPU hosts often has none);
  an error when torch has no CUDA or no CUDA toolkit is found.
- otherwise the CUDA kernels only when a GPU is visible and a toolkit found: a GPU-less machine that
  merely has nvcc on its PATH gets the CPU build (minutes instead of ten, and ``dann info`` does not
  claim CUDA kernels nothing there can run).

Objects are compiled in ``build/ext-…`` under the project, not in pip's throw-away directory, so a
second ``pip install -e .`` with the same torch recompiles nothing (ninja skips what is up to date).
The CPU sources both builds share (all but ``csrc/variant_cpu.cpp``, see ``csrc/variant.h``) are
compiled alike, without CUDA's headers, into one ``build/ext-…-shared`` directory: a CUDA build after
a CPU one (or the reverse) compiles only what is its own.
While compiling, a line every 8 s says how far it got (``pip install -v`` shows them).
"""
import concurrent.futures
import glob
import os
import platform
import sys
import threading
import time

from setuptools import setup

try:
    import fcntl  # POSIX: the lock on the shared objects' directory
except ImportError:
    fcntl = None

ROOT = os.path.dirname(os.path.abspath(__file__))
HEARTBEAT_SECONDS = 8


def _say(message):
    print(f"dann build: {message}", file=sys.stderr, flush=True)


def _sources(pattern):
    return sorted(os.path.relpath(p, ROOT) for p in glob.glob(os.path.join(ROOT, pattern)))


# Each SIMD tier's CPU kernels are one translation unit built with that tier's flags, as ATen builds its
# CPU_CAPABILITY kernels; csrc/cpu/capability.cpp runs a tier only when cpuid reports its flags.
SIMD_TIERS = {
    "csrc/cpu/kernels_avx2.cpp": ["-mavx2", "-mfma", "-mf16c"],
    "csrc/cpu/kernels_avx512.cpp": ["-mavx512f", "-mavx512bw", "-mavx512vl", "-mavx512dq", "-mfma"],
    "csrc/cpu/kernels_avx512_bf16.cpp": ["-mavx512f", "-mavx512bw", "-mavx512vl", "-mavx512dq", "-mfma", "-mavx512bf16"],
}
CPU_ONLY = "csrc/variant_cpu.cpp"  # the CPU build's own source; the CUDA build has csrc/cuda/ instead
X86_64 = platform.machine().lower() in ("x86_64", "amd64")

def _cuda_home():
    from torch.utils import cpp_extension

    home = cpp_extension.CUDA_HOME
    # On these machines CUDA_HOME may resolve to /usr/local (an nvcc wrapper lives there) while the
    # toolkit with its headers is /usr/local/cuda.
    if home and not os.path.exists(os.path.join(home, "include", "cuda_runtime_api.h")):
        home = "/usr/local/cuda" if os.path.exists("/usr/local/cuda/include/cuda_runtime_api.h") else None
    return home


def _cuda_choice(torch):
    """(compile the CUDA half?, why): the rules of the module docstring."""
    if os.environ.get("DANN_NO_CUDA") == "1" or os.environ.get("DANN_CUDA") == "0":
        return False, "DANN_NO_CUDA=1"
    forced = os.environ.get("DANN_CUDA") == "1"
    if torch.version.cuda is None:
        if forced:
            sys.exit(f"dann build: DANN_CUDA=1 but torch {torch.__version__} is a CPU-only build; install a CUDA torch or drop DANN_CUDA")
        return False, f"torch {torch.__version__} has no CUDA"
    if _cuda_home() is None:
        if forced:
            sys.exit("dann build: DANN_CUDA=1 but no CUDA toolkit was found; set CUDA_HOME to one (with bin/nvcc) or drop DANN_CUDA")
        return False, "no CUDA toolkit found"
    if forced:
        return True, "DANN_CUDA=1"
    gpus = torch.cuda.device_count()
    if gpus:
        return True, f"{gpus} GPU(s) visible"
    return False, "no GPU visible; DANN_CUDA=1 compiles the CUDA kernels anyway"


def _extensions():
    if os.environ.get("DANN_NO_EXT") == "1":
        _say("DANN_NO_EXT=1: no extension (the ops will run their pure-PyTorch reference)")
        return [], {}
    import torch
    from torch.utils import cpp_extension

    use_cuda, why = _cuda_choice(torch)
    # -g0 overrides the -g of Python's own CFLAGS: debug info for torch's templates was a third of the
    # compile time (dann_ops.cpp: 80 -> 53 CPU s) and 98% of an object's size, for a .so nobody debugs.
    cxx = ["-O3", "-g0", "-std=c++20", "-fopenmp", "-DAT_PARALLEL_OPENMP=1"]
    shared = [s for s in _sources("csrc/*.cpp") + _sources("csrc/cpu/*.cpp") if s not in SIMD_TIERS and s != CPU_ONLY]
    kwargs = dict(extra_link_args=["-fopenmp"])
    if use_cuda:
        home = _cuda_home()
        cpp_extension.CUDA_HOME = home
        os.environ["CUDA_HOME"] = home
        if not torch.cuda.device_count():
            # With no GPU to ask, cpp_extension needs the target archs spelled out (else it crashes);
            # with one, it compiles for the GPUs it sees.
            os.environ.setdefault("TORCH_CUDA_ARCH_LIST", "8.0;9.0+PTX")
        own = _sources("csrc/cuda/*.cu") + _sources("csrc/cuda/*.cpp")
        # No --use_fast_math: approximate expf/logf and flushed denormals would part the CUDA losses
        # from the reference (the oracle) by more than the rounding the tests allow.
        nvcc = ["-O3", "-std=c++20", "-lineinfo"]
        ext = cpp_extension.CUDAExtension("dann_core._C", own, extra_compile_args={"cxx": cxx, "nvcc": nvcc}, **kwargs)
    else:
        own = [CPU_ONLY]
        ext = cpp_extension.CppExtension("dann_core._C", own, extra_compile_args={"cxx": cxx}, **kwargs)
    ext.shared_sources = shared
    ext.shared_include_dirs = cpp_extension.include_paths()  # a CppExtension's: the same in both builds
    ext.simd_tiers = SIMD_TIERS if X86_64 else {}
    variant = "cuda" if use_cuda else "cpu"
    total = len(own) + len(shared) + len(ext.simd_tiers)
    _say(f"dann_core._C with {'CPU and CUDA' if use_cuda else 'CPU'} kernels ({why}); {total} sources")
    tag = f"py{sys.version_info[0]}{sys.version_info[1]}-torch{torch.__version__}".replace("+", "_")
    return [ext], {"build_ext": _build_ext_class(cpp_extension.BuildExtension, tag, variant, total)}


def _build_ext_class(base, tag, variant, total):
    """BuildExtension with objects kept under build/ (reused by the next install) and a heartbeat."""

    class BuildExtension(base.with_options(use_ninja=True)):
        def finalize_options(self):
            super().finalize_options()
            # pip's editable builds pass a fresh temporary build_temp every time: everything recompiled.
            self.build_temp = os.path.join(ROOT, "build", f"ext-{tag}-{variant}")
            self.shared_temp = os.path.join(ROOT, "build", f"ext-{tag}-shared")

        def build_extension(self, ext):
            # The sources both builds share, then the SIMD tiers with their own flags, linked after every
            # other object, so that for an inline function several objects define the linker keeps the
            # baseline copy (tests/ops/test_ops_tier_isolation.py checks the built library for instructions
            # outside their tier). A ninja call takes one set of flags: the shared sources are one call,
            # each tier its own, in its own directory, all at once (the tiers waited 29 s in turn).
            cxx = ext.extra_compile_args["cxx"] if isinstance(ext.extra_compile_args, dict) else ext.extra_compile_args
            compiles = [(getattr(ext, "shared_sources", []), [], self.shared_temp)]
            compiles += [([source], flags, os.path.join(self.shared_temp, "tier-" + os.path.basename(source)[:-4]))
                         for source, flags in getattr(ext, "simd_tiers", {}).items()]

            def compile(sources, flags, output_dir):
                return self.compiler.compile(sources, output_dir=output_dir, macros=ext.define_macros,
                                             include_dirs=ext.shared_include_dirs, extra_postargs=list(cxx) + flags,
                                             depends=ext.depends)

            os.makedirs(self.shared_temp, exist_ok=True)
            # Two builds at once (a CPU and a CUDA one, or two installs) would both rewrite the ninja files here.
            with open(os.path.join(self.shared_temp, ".lock"), "w") as lock, concurrent.futures.ThreadPoolExecutor(len(compiles)) as pool:
                if fcntl is not None:
                    fcntl.flock(lock, fcntl.LOCK_EX)
                calls = [pool.submit(compile, *call) for call in compiles if call[0]]
                for call in calls:  # in order: the tiers last
                    ext.extra_objects += call.result()
            super().build_extension(ext)

        def build_extensions(self):
            started = time.time()
            done = threading.Event()
            watcher = threading.Thread(target=_heartbeat, args=((self.build_temp, self.shared_temp), started, total, done),
                                       daemon=True)
            watcher.start()
            try:
                super().build_extensions()
            finally:
                done.set()
                watcher.join()
            fresh = len(_objects(self.build_temp, started) + _objects(self.shared_temp, started))
            reused = "" if fresh == total else f" ({total - fresh} reused from build/)"
            _say(f"compiled {fresh} of {total} sources and linked in {time.time() - started:.0f} s{reused}")

    return BuildExtension


def _objects(build_temp, since):
    """Object files under ``build_temp`` written since ``since`` (a compile finished each)."""
    found = []
    for path in glob.glob(os.path.join(build_temp, "**", "*.o"), recursive=True):
        try:
            if os.path.getmtime(path) >= since:
                found.append(path)
        except OSError:
            pass
    return found


def _heartbeat(build_temps, started, total, done):
    # ninja's own lines reach pip only at the end of a compile (minutes for a CUDA file): say
    # how far the build is at least every HEARTBEAT_SECONDS.
    while not done.wait(HEARTBEAT_SECONDS):
        fresh = sum(len(_objects(build_temp, started)) for build_temp in build_temps)
        _say(f"compiling: {fresh} of {total} sources done after {time.time() - started:.0f} s")


if __name__ == "__main__":  # pip's build backend and `python setup.py` both run it as __main__; tests import it
    # ninja is looked up on PATH; make the running interpreter's scripts directory (a venv's bin) win.
    os.environ["PATH"] = os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")
    ext_modules, cmdclass = _extensions()
    setup(ext_modules=ext_modules, cmdclass=cmdclass)
