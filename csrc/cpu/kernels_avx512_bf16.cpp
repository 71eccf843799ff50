// The bfloat16 kernels for CPUs with AVX512_BF16 (Cooper Lake, Sapphire Rapids, Zen 4 and later):
// the AVX512 kernels, but with results rounded to bfloat16 by the CPU's own conversion
// (vcvtne2ps2bf16) instead of ATen's integer rounding sequence. Built with the AVX512 flags plus
// -mavx512bf16. ATen's vector types get their own namespace (AVX512BF16) so that nothing compiled
// here can stand in for the plain AVX512 tier's copies.
#if defined(__x86_64__) || defined(_M_X64)
#if !defined(__AVX512F__) || !defined(__AVX512BW__) || !defined(__AVX512BF16__)
#error "kernels_avx512_bf16.cpp must be compiled with the AVX512 flags and -mavx512bf16 (setup.py's SIMD_TIERS)"
#endif
#define CPU_CAPABILITY AVX512BF16
#define CPU_CAPABILITY_AVX512
#define DANN_NS avx512_bf16
#define DANN_BF16_ONLY 1
#include "kernels_impl.h"
#endif
