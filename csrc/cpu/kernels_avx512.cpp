// The CPU kernels at ATen's AVX512 level (F, BW, VL, DQ + FMA), run only when the CPU has all of them
// (capability.cpp). setup.py builds this file alone with those -m flags and links it after the
// baseline objects (see kernels_avx2.cpp).
#if defined(__x86_64__) || defined(_M_X64)
#if !defined(__AVX512F__) || !defined(__AVX512BW__) || !defined(__AVX512VL__) || !defined(__AVX512DQ__)
#error "kernels_avx512.cpp must be compiled with -mavx512f -mavx512bw -mavx512vl -mavx512dq (setup.py's SIMD_TIERS)"
#endif
#define CPU_CAPABILITY AVX512
#define CPU_CAPABILITY_AVX512
#define DANN_NS avx512
#include "kernels_impl.h"
#endif
