// The CPU kernels for AVX2 + FMA, run only when the CPU has them (capability.cpp). setup.py builds
// this file alone with -mavx2 -mfma -mf16c and links it after the baseline objects, so the linker
// keeps the baseline copy of any inline function both define; ATen's vector types live in a
// per-capability inline namespace, so these instantiations never collide with the baseline ones.
#if defined(__x86_64__) || defined(_M_X64)
#if !defined(__AVX2__) || !defined(__FMA__) || !defined(__F16C__)
#error "kernels_avx2.cpp must be compiled with -mavx2 -mfma -mf16c (setup.py's SIMD_TIERS)"
#endif
#define CPU_CAPABILITY AVX2
#define CPU_CAPABILITY_AVX2
#define DANN_NS avx2
#include "kernels_impl.h"
#endif
