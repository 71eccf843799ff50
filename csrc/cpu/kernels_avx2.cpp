// The CPU kernels compiled for AVX2 + FMA, used when the running CPU has them (ops_cpu.cpp checks).
// The target pragma, rather than -mavx2 for the whole extension, keeps the rest of the library
// loadable on any x86-64 CPU. ATen's vector types live in a per-capability inline namespace, so these
// instantiations never collide with the baseline ones.
#if defined(__x86_64__) || defined(_M_X64)
// Headers outside ATen's per-capability namespace come first, compiled for the baseline, so no
// AVX2 copy of their inline functions can be picked by the linker for the baseline kernels.
#include <ATen/Parallel.h>
#include <c10/util/BFloat16.h>
#include <c10/util/Half.h>

#include <algorithm>
#include <cmath>
#include <vector>

#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c")
// g++ (unlike gcc for C) leaves the feature macros unset under a target pragma, and sleef.h declares
// its 256-bit functions only when they are set.
#ifndef __AVX__
#define __AVX__ 1
#endif
#ifndef __AVX2__
#define __AVX2__ 1
#endif
#ifndef __FMA__
#define __FMA__ 1
#endif
#ifndef __F16C__
#define __F16C__ 1
#endif
#define CPU_CAPABILITY AVX2
#define CPU_CAPABILITY_AVX2
#define DANN_NS avx2
#include "kernels_impl.h"
#pragma GCC pop_options
#endif
