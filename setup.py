"""Builds the one compiled extension, dann_core._C. Everything else is in pyproject.toml.

CUDA kernels are added whenever the torch being built against has CUDA and a toolkit is found, never
by asking whether a GPU is present (build machines often have none). DANN_NO_CUDA=1 leaves them out;
DANN_NO_EXT=1 builds no extension at all.
"""
import glob
import os
import platform
import sys

from setuptools import setup

ROOT = os.path.dirname(os.path.abspath(__file__))


def _sources(pattern):
    return sorted(os.path.relpath(p, ROOT) for p in glob.glob(os.path.join(ROOT, pattern)))


# Each SIMD tier's CPU kernels are one translation unit built with that tier's flags, as ATen builds its
# CPU_CAPABILITY kernels; csrc/cpu/capability.cpp runs a tier only when cpuid reports its flags.
SIMD_TIERS = {
    "csrc/cpu/kernels_avx2.cpp": ["-mavx2", "-mfma", "-mf16c"],
    "csrc/cpu/kernels_avx512.cpp": ["-mavx512f", "-mavx512bw", "-mavx512vl", "-mavx512dq", "-mfma"],
    "csrc/cpu/kernels_avx512_bf16.cpp": ["-mavx512f", "-mavx512bw", "-mavx512vl", "-mavx512dq", "-mfma", "-mavx512bf16"],
}
X86_64 = platform.machine().lower() in ("x86_64", "amd64")


def _build_ext_class():
    from torch.utils import cpp_extension

    class BuildExtension(cpp_extension.BuildExtension):
        """Compiles the SIMD tiers with their own flags and links them after every other object, so that
        for an inline function several objects define the linker keeps the baseline copy
        (tests/test_ops_tier_isolation.py checks the built library for instructions outside their tier)."""

        def build_extension(self, ext):
            cxx = ext.extra_compile_args["cxx"] if isinstance(ext.extra_compile_args, dict) else ext.extra_compile_args
            for source, flags in getattr(ext, "simd_tiers", {}).items():
                ext.extra_objects += self.compiler.compile(
                    [source], output_dir=self.build_temp, macros=ext.define_macros, include_dirs=ext.include_dirs,
                    extra_postargs=list(cxx) + flags, depends=ext.depends)
            super().build_extension(ext)

    return BuildExtension


def _cuda_home():
    from torch.utils import cpp_extension

    home = cpp_extension.CUDA_HOME
    # On these machines CUDA_HOME may resolve to /usr/local (an nvcc wrapper lives there) while the
    # toolkit with its headers is /usr/local/cuda.
    if home and not os.path.exists(os.path.join(home, "include", "cuda_runtime_api.h")):
        home = "/usr/local/cuda" if os.path.exists("/usr/local/cuda/include/cuda_runtime_api.h") else None
    return home


def _extensions():
    if os.environ.get("DANN_NO_EXT") == "1":
        return [], {}
    import torch
    from torch.utils import cpp_extension

    use_cuda = os.environ.get("DANN_NO_CUDA") != "1" and torch.version.cuda is not None and _cuda_home()
    cxx = ["-O3", "-std=c++20", "-fopenmp", "-DAT_PARALLEL_OPENMP=1"]
    sources = [s for s in _sources("csrc/*.cpp") + _sources("csrc/cpu/*.cpp") if s not in SIMD_TIERS]
    kwargs = dict(extra_link_args=["-fopenmp"])
    if use_cuda:
        home = _cuda_home()
        cpp_extension.CUDA_HOME = home
        os.environ["CUDA_HOME"] = home
        # With no GPU to ask, cpp_extension needs the target archs spelled out (else it crashes).
        os.environ.setdefault("TORCH_CUDA_ARCH_LIST", "8.0;9.0+PTX")
        sources += _sources("csrc/cuda/*.cu") + _sources("csrc/cuda/*.cpp")
        # No --use_fast_math: approximate expf/logf and flushed denormals would part the CUDA losses
        # from the reference (the oracle) by more than the rounding the tests allow.
        nvcc = ["-O3", "-std=c++20", "-lineinfo"]
        ext = cpp_extension.CUDAExtension(
            "dann_core._C",
            sources,
            extra_compile_args={"cxx": cxx + ["-DDANN_WITH_CUDA=1"], "nvcc": nvcc},
            **kwargs,
        )
    else:
        ext = cpp_extension.CppExtension("dann_core._C", sources, extra_compile_args={"cxx": cxx}, **kwargs)
    ext.simd_tiers = SIMD_TIERS if X86_64 else {}
    return [ext], {"build_ext": _build_ext_class().with_options(use_ninja=True)}


# ninja is looked up on PATH; make the running interpreter's scripts directory (a venv's bin) win.
os.environ["PATH"] = os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")
ext_modules, cmdclass = _extensions()
setup(ext_modules=ext_modules, cmdclass=cmdclass)
