// extern "C" entry points over the launchers, for ctypes (run.py), and self-tests of the emulation.
#include "dann_cuda.cuh"
#include <type_traits>
using namespace dann::cuda;

// The device computes fabs / exp / log of a float in float; so must the emulation (emu.h).
static_assert(std::is_same_v<decltype(fabs(1.0f)), float> && std::is_same_v<decltype(exp(1.0f)), float> &&
              std::is_same_v<decltype(log1p(1.0f)), float>, "emu.h must give float math the device's float overloads");

template <class F> int disp(int t, F f) {
  switch (t) {
    case 0: return f((float*)nullptr);
    case 1: return f((double*)nullptr);
    case 2: return f((__half*)nullptr);
    case 3: return f((__nv_bfloat16*)nullptr);
  }
  return -1;
}
#define TT using T = std::remove_pointer_t<decltype(tag)>
extern "C" {
const char* emu_message() { return emu_last_message.c_str(); }
int emu_grl(int t, const void* in, void* out, int64_t n, const void* lp, int ldt, double lh) {
  LambdaArg l{lp, ldt, lh};
  return disp(t, [&](auto* tag) { TT; return (int)launch_grl_backward<T>((const T*)in, (T*)out, n, l, nullptr); });
}
int emu_split(int t, const void* gl, const void* gd, void* out, int64_t n, int64_t nl, const void* lp, int ldt, double lh) {
  LambdaArg l{lp, ldt, lh};
  return disp(t, [&](auto* tag) { TT; return (int)launch_split_reverse_backward<T>((const T*)gl, (const T*)gd, (T*)out, n, nl, l, nullptr); });
}
int64_t emu_ws(int64_t n) { return loss_workspace_bytes(n); }
int emu_bce(int t, const void* z, int64_t n, const void* lab, int ldt, int64_t ns, const void* w, int wdt, int red,
            void* loss, void* grad, int64_t* corr, int64_t* bad, void* ws) {
  return disp(t, [&](auto* tag) { TT; return (int)launch_domain_bce<T>((const T*)z, n, lab, ldt, ns, w, wdt, red, (T*)loss, (T*)grad, corr, bad, ws, nullptr); });
}
int emu_ce(int t, const void* z, int64_t n, int64_t k, const void* lab, int ldt, const void* w, int wdt, int red,
           void* loss, void* grad, int64_t* corr, int64_t* bad, void* ws) {
  return disp(t, [&](auto* tag) { TT; return (int)launch_domain_ce<T>((const T*)z, n, k, lab, ldt, w, wdt, red, (T*)loss, (T*)grad, corr, bad, ws, nullptr); });
}

// Self-tests: each launches a kernel that is wrong on a GPU and returns cudaGetLastError(); run.py
// expects a failure with a message, within EMU_TIMEOUT_S, not a hang and not success.
int emu_selftest(int which) {
  switch (which) {
    case 0:  // a full-mask shuffle that half the warp never reaches
      emu_launch(1, 64, [] { if ((threadIdx.x & 31) < 16) (void)__shfl_xor_sync(0xffffffffu, 1.0f, 1); });
      break;
    case 1:  // a shuffle reading a lane outside its mask
      emu_launch(1, 32, [] { if ((threadIdx.x & 31) < 16) (void)__shfl_xor_sync(0x0000ffffu, 1.0f, 16); });
      break;
    case 2:  // __syncthreads in divergent code
      emu_launch(1, 64, [] { if (threadIdx.x < 32) __syncthreads(); });
      break;
    case 3:  // a launch no GPU accepts
      emu_launch(1, 2048, [] {});
      break;
    case 4:  // a correct partial-mask shuffle: must succeed
      emu_launch(2, 64, [] { if ((threadIdx.x & 31) < 16) (void)__shfl_xor_sync(0x0000ffffu, 1.0f, 1); });
      break;
  }
  return (int)cudaGetLastError();
}
}
