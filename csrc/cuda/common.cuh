// Device helpers shared by the kernels: compute types, conversions, 128-bit packs, reading λ / labels /
// weights through a dtype code, deterministic block reductions, launch sizing. nvcc only; no torch.
//
// CUDAExtension compiles with -D__CUDA_NO_HALF_OPERATORS__ / _CONVERSIONS__ (and the bf16 ones), so
// every half/bf16 conversion below is an explicit intrinsic.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <atomic>
#include <climits>
#include <cmath>
#include <cstdint>
#include <type_traits>

#include "dann_cuda.cuh"

namespace dann {
namespace cuda {

constexpr int kThreads = 256;  // every kernel here runs 256-thread blocks (8 warps)
constexpr int kWarps = kThreads / 32;
constexpr unsigned kFullMask = 0xffffffffu;

// float32 for the 16-bit types and float32; float64 stays float64 (as reference.py computes).
template <typename T>
struct AccT {
  using type = float;
};
template <>
struct AccT<double> {
  using type = double;
};
template <typename T>
using acc_t = typename AccT<T>::type;

__device__ __forceinline__ float to_acc(float v) { return v; }
__device__ __forceinline__ double to_acc(double v) { return v; }
__device__ __forceinline__ float to_acc(__half v) { return __half2float(v); }
__device__ __forceinline__ float to_acc(__nv_bfloat16 v) { return __bfloat162float(v); }

// Round to nearest even, as Tensor.to(dtype) does.
template <typename T>
__device__ __forceinline__ T from_acc(acc_t<T> v);
template <>
__device__ __forceinline__ float from_acc<float>(float v) { return v; }
template <>
__device__ __forceinline__ double from_acc<double>(double v) { return v; }
template <>
__device__ __forceinline__ __half from_acc<__half>(float v) { return __float2half_rn(v); }
template <>
__device__ __forceinline__ __nv_bfloat16 from_acc<__nv_bfloat16>(float v) { return __float2bfloat16_rn(v); }

// Correctly rounded, never contracted into an FMA and not subject to --use_fast_math's approximate
// division, so elementwise results match the reference's separate multiply / add / divide bit for bit.
__device__ __forceinline__ float mul_rn(float a, float b) { return __fmul_rn(a, b); }
__device__ __forceinline__ double mul_rn(double a, double b) { return __dmul_rn(a, b); }
__device__ __forceinline__ float add_rn(float a, float b) { return __fadd_rn(a, b); }
__device__ __forceinline__ double add_rn(double a, double b) { return __dadd_rn(a, b); }
__device__ __forceinline__ float sub_rn(float a, float b) { return __fsub_rn(a, b); }
__device__ __forceinline__ double sub_rn(double a, double b) { return __dsub_rn(a, b); }
__device__ __forceinline__ float div_rn(float a, float b) { return __fdiv_rn(a, b); }
__device__ __forceinline__ double div_rn(double a, double b) { return __ddiv_rn(a, b); }

// Spelled per type: on the host (tests/cuda/host_emulation) an unsuffixed fabs(float) is the double one.
__device__ __forceinline__ float abs_(float v) { return fabsf(v); }
__device__ __forceinline__ double abs_(double v) { return fabs(v); }
__device__ __forceinline__ float exp_(float v) { return expf(v); }
__device__ __forceinline__ double exp_(double v) { return exp(v); }
__device__ __forceinline__ float log_(float v) { return logf(v); }
__device__ __forceinline__ double log_(double v) { return log(v); }
__device__ __forceinline__ float log1p_(float v) { return log1pf(v); }
__device__ __forceinline__ double log1p_(double v) { return log1p(v); }

// A run of N elements loaded / stored as one 128-bit access (N = 16 / sizeof(T)); N = 1 for the
// scalar path. The alignment must be the pack's size, or the compiler splits the access.
template <typename T, int N>
struct alignas(sizeof(T) * N) Pack {
  T v[N];
};

template <typename T>
constexpr int vec_width() {
  return 16 / static_cast<int>(sizeof(T));
}

inline bool aligned16(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15u) == 0; }

// Reads a float-typed value (λ, a weight) of dtype code `dt` at p[i], converted like Tensor.to(CT).
template <typename CT>
__device__ __forceinline__ CT load_float_as(const void* p, int32_t dt, int64_t i) {
  switch (dt) {
    case kF64:
      return static_cast<CT>(static_cast<const double*>(p)[i]);
    case kF16:
      return static_cast<CT>(__half2float(static_cast<const __half*>(p)[i]));
    case kBF16:
      return static_cast<CT>(__bfloat162float(static_cast<const __nv_bfloat16*>(p)[i]));
    default:  // kF32
      return static_cast<CT>(static_cast<const float*>(p)[i]);
  }
}

template <typename CT>
__device__ __forceinline__ CT read_lambda(const LambdaArg& l) {
  return l.ptr == nullptr ? static_cast<CT>(l.host) : load_float_as<CT>(l.ptr, l.dtype, 0);
}

// A binary domain label at p[i]: sets *y to 0 or 1 and returns true, or returns false when the stored
// value is anything else (NaN included), exactly as `(y != 0) & (y != 1)` decides in the reference.
// Compared in the stored type (no float64 on the way: 2^53 + 1 must not round to 1).
template <typename CT, typename L>
__device__ __forceinline__ bool binary_label_of(L v, CT* y) {
  *y = v == L(1) ? CT(1) : CT(0);
  return v == L(0) || v == L(1);
}

template <typename CT>
__device__ __forceinline__ bool load_binary_label(const void* p, int32_t dt, int64_t i, CT* y) {
  switch (dt) {
    case kF32: return binary_label_of(static_cast<const float*>(p)[i], y);
    case kF64: return binary_label_of(static_cast<const double*>(p)[i], y);
    case kF16: return binary_label_of(__half2float(static_cast<const __half*>(p)[i]), y);  // exact
    case kBF16: return binary_label_of(__bfloat162float(static_cast<const __nv_bfloat16*>(p)[i]), y);
    case kBool:  // one byte holding 0 or 1
    case kU8: return binary_label_of(static_cast<const uint8_t*>(p)[i], y);
    case kI8: return binary_label_of(static_cast<const int8_t*>(p)[i], y);
    case kI16: return binary_label_of(static_cast<const int16_t*>(p)[i], y);
    case kI32: return binary_label_of(static_cast<const int32_t*>(p)[i], y);
    case kI64: return binary_label_of(static_cast<const int64_t*>(p)[i], y);
    case kU16: return binary_label_of(static_cast<const uint16_t*>(p)[i], y);
    case kU32: return binary_label_of(static_cast<const uint32_t*>(p)[i], y);
    case kU64: return binary_label_of(static_cast<const uint64_t*>(p)[i], y);
    default: return false;
  }
}

// A class label at p[i]: returns it, or -1 when outside [0, k).
__device__ __forceinline__ int64_t load_class_label(const void* p, int32_t dt, int64_t i, int64_t k) {
  int64_t v;
  switch (dt) {
    case kU8: v = static_cast<const uint8_t*>(p)[i]; break;
    case kI8: v = static_cast<const int8_t*>(p)[i]; break;
    case kI16: v = static_cast<const int16_t*>(p)[i]; break;
    case kI32: v = static_cast<const int32_t*>(p)[i]; break;
    case kI64: v = static_cast<const int64_t*>(p)[i]; break;
    case kU16: v = static_cast<const uint16_t*>(p)[i]; break;
    case kU32: v = static_cast<const uint32_t*>(p)[i]; break;
    case kU64: {
      const uint64_t w = static_cast<const uint64_t*>(p)[i];
      return w < static_cast<uint64_t>(k) ? static_cast<int64_t>(w) : -1;
    }
    default: return -1;
  }
  return (v >= 0 && v < k) ? v : -1;
}

struct SumOp {
  template <typename A>
  __device__ __forceinline__ A operator()(A a, A b) const {
    return a + b;
  }
};
struct MaxOp {
  template <typename A>
  __device__ __forceinline__ A operator()(A a, A b) const {
    return a > b ? a : b;
  }
};

// Reduces one value per thread of a kThreads-thread block in a fixed order (shuffle tree within each
// warp, then warp 0 over the warp results); the result is valid in thread 0. `smem` holds kWarps
// values. Every thread of the block must call it (it synchronises), and it may be called again
// afterwards with the same smem (the leading __syncthreads protects the previous use).
template <typename A, typename Op>
__device__ __forceinline__ A block_reduce(A v, A* smem, Op op) {
  const int lane = threadIdx.x & 31;
  const int warp = threadIdx.x >> 5;
#pragma unroll
  for (int off = 16; off > 0; off >>= 1) v = op(v, __shfl_down_sync(kFullMask, v, off));
  __syncthreads();
  if (lane == 0) smem[warp] = v;
  __syncthreads();
  if (warp == 0) {
    v = lane < kWarps ? smem[lane] : A(0);
#pragma unroll
    for (int off = 16; off > 0; off >>= 1) v = op(v, __shfl_down_sync(kFullMask, v, off));
  }
  return v;
}

// Streaming multiprocessors of the current device, cached per device (attributes never change).
inline int sm_count() {
  static std::atomic<int> cache[64];
  int dev = 0;
  if (cudaGetDevice(&dev) != cudaSuccess) return 108;
  if (dev >= 0 && dev < 64) {
    int c = cache[dev].load(std::memory_order_relaxed);
    if (c > 0) return c;
  }
  int c = 0;
  if (cudaDeviceGetAttribute(&c, cudaDevAttrMultiProcessorCount, dev) != cudaSuccess || c <= 0) {
    cudaGetLastError();  // clear the (non-sticky) error so the launch check does not report it
    return 108;
  }
  if (dev >= 0 && dev < 64) cache[dev].store(c, std::memory_order_relaxed);
  return c;
}

// Blocks for a grid-stride elementwise kernel over `work` items: one item per thread up to one full
// wave (8 resident 256-thread blocks per SM), grid-stride beyond.
inline unsigned elementwise_blocks(int64_t work) {
  const int64_t want = (work + kThreads - 1) / kThreads;
  const int64_t cap = static_cast<int64_t>(sm_count()) * 8;
  return static_cast<unsigned>(want < 1 ? 1 : (want < cap ? want : cap));
}

// Blocks of the loss kernels. A function of the row count only (never of the device), so that the
// order of the reduction, and hence every bit of the loss, is the same run to run and GPU to GPU.
constexpr int64_t kMaxLossBlocks = 1024;
inline unsigned loss_blocks(int64_t rows_work) {
  const int64_t want = (rows_work + kThreads - 1) / kThreads;
  return static_cast<unsigned>(want < 1 ? 1 : (want < kMaxLossBlocks ? want : kMaxLossBlocks));
}

}  // namespace cuda
}  // namespace dann
