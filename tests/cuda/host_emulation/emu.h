// Host emulation of the few CUDA device features that csrc/cuda/*.cu use, so that their kernels'
// indexing, tails, grid-stride loops, shuffles and block reductions can be checked against the
// reference on a machine without a GPU (see run.py). A development aid, not a substitute for the
// GPU tests: no --use_fast_math, no denormal flushing, no real concurrency model beyond barriers.
// Each launch runs one std::thread per thread of a block; the threads walk the blocks in order, so
// `__shared__` (made `static`) is private to the running block.
#pragma once
#include <cuda_runtime.h>
#include <cuda_fp16.h>
#include <cuda_bf16.h>
#include <barrier>
#include <thread>
#include <vector>
#include <functional>
#include <cstring>
#include <cmath>
#include <memory>
#include <cstdint>

struct EmuDim { unsigned x, y, z; };
inline thread_local EmuDim emu_threadIdx, emu_blockIdx, emu_blockDim, emu_gridDim;
#define threadIdx emu_threadIdx
#define blockIdx emu_blockIdx
#define blockDim emu_blockDim
#define gridDim emu_gridDim
#undef __global__
#define __global__
#undef __device__
#define __device__
#undef __forceinline__
#define __forceinline__ inline
#define __launch_bounds__(x)
#undef __shared__
#define __shared__ static
#define __restrict__

inline std::barrier<>* emu_block_bar;
inline std::barrier<>* emu_warp_bar[8];
inline uint64_t emu_xchg[8][32];
inline void __syncthreads() { emu_block_bar->arrive_and_wait(); }

template <typename T> T emu_exchange(T v, int src, bool use_own) {
  int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  uint64_t bits = 0; std::memcpy(&bits, &v, sizeof(T));
  emu_xchg[warp][lane] = bits;
  emu_warp_bar[warp]->arrive_and_wait();
  uint64_t got = emu_xchg[warp][src];
  emu_warp_bar[warp]->arrive_and_wait();
  if (use_own) return v;
  T r; std::memcpy(&r, &got, sizeof(T)); return r;
}
template <typename T> T __shfl_xor_sync(unsigned, T v, int m, int width = 32) {
  int lane = threadIdx.x & 31;
  int src = (lane & ~(width - 1)) | ((lane ^ m) & (width - 1));
  return emu_exchange(v, src, false);
}
template <typename T> T __shfl_down_sync(unsigned, T v, unsigned d, int width = 32) {
  int lane = threadIdx.x & 31;
  int in_seg = lane & (width - 1);
  bool own = in_seg + (int)d >= width;
  return emu_exchange(v, own ? lane : lane + (int)d, own);
}
inline float __fmul_rn(float a, float b) { volatile float r = a * b; return r; }
inline float __fadd_rn(float a, float b) { volatile float r = a + b; return r; }
inline float __fsub_rn(float a, float b) { volatile float r = a - b; return r; }
inline float __fdiv_rn(float a, float b) { volatile float r = a / b; return r; }
inline double __dmul_rn(double a, double b) { volatile double r = a * b; return r; }
inline double __dadd_rn(double a, double b) { volatile double r = a + b; return r; }
inline double __dsub_rn(double a, double b) { volatile double r = a - b; return r; }
inline double __ddiv_rn(double a, double b) { volatile double r = a / b; return r; }
using std::isnan;

inline cudaError_t emu_cudaGetLastError() { return cudaSuccess; }
inline cudaError_t emu_cudaGetDevice(int* d) { *d = 0; return cudaSuccess; }
inline cudaError_t emu_cudaDeviceGetAttribute(int* v, cudaDeviceAttr, int) { *v = 4; return cudaSuccess; }
#define cudaGetLastError emu_cudaGetLastError
#define cudaGetDevice emu_cudaGetDevice
#define cudaDeviceGetAttribute emu_cudaDeviceGetAttribute

// Runs body() for every thread of every block: 'threads' std::threads walk the blocks in order.
inline long emu_launches = 0;
inline void emu_launch(unsigned grid, unsigned threads, const std::function<void()>& body) {
  ++emu_launches;
  std::barrier<> bar(threads);
  std::vector<std::unique_ptr<std::barrier<>>> wb;
  for (unsigned w = 0; w < threads / 32; ++w) { wb.emplace_back(new std::barrier<>(32)); emu_warp_bar[w] = wb.back().get(); }
  emu_block_bar = &bar;
  std::vector<std::thread> ts;
  for (unsigned t = 0; t < threads; ++t) ts.emplace_back([&, t] {
    emu_threadIdx = {t, 0, 0}; emu_blockDim = {threads, 1, 1}; emu_gridDim = {grid, 1, 1};
    for (unsigned b = 0; b < grid; ++b) { emu_blockIdx = {b, 0, 0}; body(); bar.arrive_and_wait(); }
  });
  for (auto& t : ts) t.join();
}
