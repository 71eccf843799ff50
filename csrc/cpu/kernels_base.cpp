// The CPU kernels at the baseline SIMD level of the compiler's target (SSE2 on x86-64, NEON on arm64).
#define CPU_CAPABILITY DEFAULT
#define DANN_NS base
#include "kernels_impl.h"
