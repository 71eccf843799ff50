// Host emulation of the few CUDA device features that csrc/cuda/*.cu use, so that their kernels'
// indexing, tails, grid-stride loops, shuffles and block reductions can be checked against the
// reference on a machine without a GPU (see run.py for what this can and cannot see).
// Each launch runs one std::thread per thread of a block; the threads walk the blocks in order, so
// `__shared__` (made `static`) is private to the running block.
//
// Made to fail where the device would misbehave: a barrier or shuffle that not every thread it names
// reaches times out (EMU_TIMEOUT_S, default 20 s) instead of hanging; a shuffle whose mask leaves out
// the calling or the source lane, or on which the lanes disagree, fails; a bad launch configuration
// fails. A failure ends the launch and is returned by the next cudaGetLastError(), as on a GPU.
#pragma once
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

// The device's math library overloads these for float; on the host, <cmath> leaves only the double
// versions in the global namespace, so an unsuffixed fabs(float) would compute in double here.
inline float fabs(float v) { return fabsf(v); }
inline float exp(float v) { return expf(v); }
inline float log(float v) { return logf(v); }
inline float log1p(float v) { return log1pf(v); }
inline float expm1(float v) { return expm1f(v); }
inline float sqrt(float v) { return sqrtf(v); }
inline float fmax(float a, float b) { return fmaxf(a, b); }
inline float fmin(float a, float b) { return fminf(a, b); }
using std::isnan;

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

// --- failure state of the running launch -------------------------------------------------------------
struct EmuAbort {};  // unwinds an emulated thread once the launch has failed
inline std::mutex emu_fail_mutex;
inline std::atomic<bool> emu_failed{false};
inline std::string emu_fail_message;
inline cudaError_t emu_last_error = cudaSuccess;
inline std::string emu_last_message;

[[noreturn]] inline void emu_fail(const std::string& what) {
  {
    std::lock_guard<std::mutex> l(emu_fail_mutex);
    if (!emu_failed.exchange(true)) emu_fail_message = what;
  }
  throw EmuAbort{};
}

inline std::chrono::milliseconds emu_timeout() {
  const char* s = std::getenv("EMU_TIMEOUT_S");
  return std::chrono::milliseconds(static_cast<long>((s ? std::atof(s) : 20.0) * 1000));
}

// Waits on cv until done() or the launch failed; after the timeout, fails with what().
template <typename Done, typename What>
void emu_wait(std::unique_lock<std::mutex>& l, std::condition_variable& cv, Done done, What what) {
  const auto deadline = std::chrono::steady_clock::now() + emu_timeout();
  while (!done()) {
    if (emu_failed) throw EmuAbort{};
    if (std::chrono::steady_clock::now() > deadline) {
      l.unlock();
      emu_fail(what());
    }
    cv.wait_for(l, std::chrono::milliseconds(20));
  }
}

// --- __syncthreads: every thread of the block must arrive ---------------------------------------------
struct EmuBarrier {
  std::mutex m;
  std::condition_variable cv;
  unsigned n = 0, arrived = 0;
  uint64_t gen = 0;
  void wait(const char* what) {
    std::unique_lock<std::mutex> l(m);
    const uint64_t g = gen;
    if (++arrived == n) {
      arrived = 0;
      ++gen;
      cv.notify_all();
      return;
    }
    emu_wait(l, cv, [&] { return gen != g; }, [&] {
      return std::string(what) + " reached by " + std::to_string(arrived) + " of " + std::to_string(n) +
             " threads of block " + std::to_string(blockIdx.x) + " (a barrier in divergent code?)";
    });
  }
};
inline EmuBarrier* emu_block_bar;
inline void __syncthreads() { emu_block_bar->wait("__syncthreads"); }

// --- warp shuffles: the lanes named in the mask exchange values ---------------------------------------
struct EmuWarp {
  std::mutex m;
  std::condition_variable cv;
  uint32_t mask = 0, arrived = 0;
  uint64_t gen = 0;
  uint64_t vals[32], result[32];
};
inline EmuWarp* emu_warps;

template <typename T>
T emu_exchange(unsigned mask, T v, int src, bool use_own, const char* name) {
  static_assert(sizeof(T) <= 8, "shuffles move at most 64 bits");
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const auto hex = [](unsigned m) { char b[16]; std::snprintf(b, sizeof b, "0x%08x", m); return std::string(b); };
  if (!((mask >> lane) & 1u)) emu_fail(std::string(name) + " by lane " + std::to_string(lane) + " with mask " + hex(mask) + ", which leaves it out");
  if (!use_own && !((mask >> src) & 1u))
    emu_fail(std::string(name) + " reads lane " + std::to_string(src) + ", outside its mask " + hex(mask) + " (undefined on a GPU)");
  EmuWarp& w = emu_warps[warp];
  uint64_t bits = 0;
  std::memcpy(&bits, &v, sizeof(T));
  std::unique_lock<std::mutex> l(w.m);
  if (w.arrived == 0) {
    w.mask = mask;
  } else if (w.mask != mask) {
    const std::string msg = std::string(name) + ": lanes of warp " + std::to_string(warp) + " disagree on the mask (" + hex(w.mask) + " vs " + hex(mask) + ")";
    l.unlock();
    emu_fail(msg);
  }
  w.vals[lane] = bits;
  w.arrived |= 1u << lane;
  const uint64_t g = w.gen;
  if (w.arrived == mask) {
    std::memcpy(w.result, w.vals, sizeof w.vals);
    w.arrived = 0;
    ++w.gen;
    w.cv.notify_all();
  } else {
    emu_wait(l, w.cv, [&] { return w.gen != g; }, [&] {
      return std::string(name) + " with mask " + hex(mask) + " in warp " + std::to_string(warp) + ": only lanes " +
             hex(w.arrived) + " arrived (a shuffle in divergent code?)";
    });
    if (w.gen != g + 1) {
      l.unlock();
      emu_fail(std::string(name) + ": the emulation cannot overlap shuffles with different masks");
    }
  }
  if (use_own) return v;
  T r;
  std::memcpy(&r, &w.result[src], sizeof(T));
  return r;
}
template <typename T>
T __shfl_xor_sync(unsigned mask, T v, int m, int width = 32) {
  const int lane = threadIdx.x & 31;
  return emu_exchange(mask, v, (lane & ~(width - 1)) | ((lane ^ m) & (width - 1)), false, "__shfl_xor_sync");
}
template <typename T>
T __shfl_down_sync(unsigned mask, T v, unsigned d, int width = 32) {
  const int lane = threadIdx.x & 31;
  const bool own = (lane & (width - 1)) + static_cast<int>(d) >= width;
  return emu_exchange(mask, v, own ? lane : lane + static_cast<int>(d), own, "__shfl_down_sync");
}

// Correctly rounded float / double operations, never contracted.
inline float __fmul_rn(float a, float b) { volatile float r = a * b; return r; }
inline float __fadd_rn(float a, float b) { volatile float r = a + b; return r; }
inline float __fsub_rn(float a, float b) { volatile float r = a - b; return r; }
inline float __fdiv_rn(float a, float b) { volatile float r = a / b; return r; }
inline double __dmul_rn(double a, double b) { volatile double r = a * b; return r; }
inline double __dadd_rn(double a, double b) { volatile double r = a + b; return r; }
inline double __dsub_rn(double a, double b) { volatile double r = a - b; return r; }
inline double __ddiv_rn(double a, double b) { volatile double r = a / b; return r; }

// --- runtime calls the launchers make --------------------------------------------------------------
inline cudaError_t emu_cudaGetLastError() {
  const cudaError_t e = emu_last_error;
  emu_last_error = cudaSuccess;
  return e;
}
inline cudaError_t emu_cudaGetDevice(int* d) { *d = 0; return cudaSuccess; }
inline cudaError_t emu_cudaDeviceGetAttribute(int* v, cudaDeviceAttr, int) { *v = 4; return cudaSuccess; }
#define cudaGetLastError emu_cudaGetLastError
#define cudaGetDevice emu_cudaGetDevice
#define cudaDeviceGetAttribute emu_cudaDeviceGetAttribute

// Runs body() for every thread of every block: `threads` std::threads walk the blocks in order. A
// failure (timeout, bad shuffle, bad configuration) becomes the next cudaGetLastError(), with the
// reason in emu_last_message; like a GPU, later launches still run.
inline long emu_launches = 0;
inline void emu_launch(unsigned grid, unsigned threads, const std::function<void()>& body) {
  ++emu_launches;
  if (grid == 0 || threads == 0 || threads > 1024 || threads % 32 != 0) {
    emu_last_error = cudaErrorInvalidConfiguration;
    emu_last_message = "launch of " + std::to_string(grid) + " blocks of " + std::to_string(threads) +
                       " threads (the emulation runs 1 to 1024 threads, whole warps)";
    return;
  }
  emu_failed = false;
  emu_fail_message.clear();
  EmuBarrier bar;
  bar.n = threads;
  std::vector<EmuWarp> warps(threads / 32);
  emu_block_bar = &bar;
  emu_warps = warps.data();
  std::vector<std::thread> ts;
  for (unsigned t = 0; t < threads; ++t)
    ts.emplace_back([&, t] {
      emu_threadIdx = {t, 0, 0};
      emu_blockDim = {threads, 1, 1};
      emu_gridDim = {grid, 1, 1};
      try {
        for (unsigned b = 0; b < grid; ++b) {
          emu_blockIdx = {b, 0, 0};
          body();
          bar.wait("the end of a block");
        }
      } catch (const EmuAbort&) {
      }
    });
  for (auto& t : ts) t.join();
  if (emu_failed) {
    emu_last_error = cudaErrorLaunchFailure;
    emu_last_message = emu_fail_message;
  }
}
