// extern "C" entry points over the launchers, for ctypes (run.py).
#include "dann_cuda.cuh"
#include <type_traits>
using namespace dann::cuda;
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
            void* loss, void* grad, int64_t* corr, int32_t* bad, void* ws) {
  return disp(t, [&](auto* tag) { TT; return (int)launch_domain_bce<T>((const T*)z, n, lab, ldt, ns, w, wdt, red, (T*)loss, (T*)grad, corr, bad, ws, nullptr); });
}
int emu_ce(int t, const void* z, int64_t n, int64_t k, const void* lab, int ldt, const void* w, int wdt, int red,
           void* loss, void* grad, int64_t* corr, int32_t* bad, void* ws) {
  return disp(t, [&](auto* tag) { TT; return (int)launch_domain_ce<T>((const T*)z, n, k, lab, ldt, w, wdt, red, (T*)loss, (T*)grad, corr, bad, ws, nullptr); });
}
}
