// CPU kernels on raw pointers, compiled once per SIMD level (kernels_base.cpp, kernels_avx2.cpp) and
// chosen at run time by ops_cpu.cpp. No ATen tensor types here: the bindings own validation and
// allocation, the kernels own the arithmetic.
#pragma once

#include <c10/util/BFloat16.h>
#include <c10/util/Half.h>

#include <cstdint>

namespace dann::cpu {

// Fixed-size chunks make the loss sum independent of the thread count: each chunk sums its own
// elements, then the partial sums are added in chunk order.
constexpr int64_t kChunk = 4096;

// Arithmetic runs in float for float, bfloat16 and half, in double for double.
template <typename T>
struct compute {
  using type = float;
};
template <>
struct compute<double> {
  using type = double;
};
template <typename T>
using compute_t = typename compute<T>::type;

template <typename T>
struct BceArgs {
  const T* logits;
  const compute_t<T>* labels;  // 0/1 values, or nullptr: rows >= n_source are target
  const compute_t<T>* weight;  // or nullptr
  T* loss_per_row;   // reduction 'none' only, else nullptr
  T* grad;
  int64_t n;
  int64_t n_source;
  double grad_scale;  // 1/N for 'mean', else 1
};

template <typename T>
struct CeArgs {
  const T* logits;   // n × k, row-major
  const int64_t* labels;
  const compute_t<T>* weight;  // or nullptr
  T* loss_per_row;   // reduction 'none' only, else nullptr
  T* grad;
  int64_t n;
  int64_t k;
  double grad_scale;
};

struct LossSums {
  double loss_sum = 0;
  int64_t n_correct = 0;
  bool bad_label = false;
};

#define DANN_DECLARE_CPU_KERNELS(NS)                                                                    \
  namespace NS {                                                                                       \
  template <typename T>                                                                                \
  void grl_backward(const T* grad, T* out, int64_t n, double neg_lambda);                              \
  template <typename T>                                                                                \
  void split_reverse_backward(const T* grad_label, const T* grad_domain, T* out, int64_t n,           \
                              int64_t n_label, double neg_lambda);                                     \
  template <typename T>                                                                                \
  LossSums domain_bce(const BceArgs<T>& args);                                                         \
  template <typename T>                                                                                \
  LossSums domain_ce(const CeArgs<T>& args);                                                           \
  }

// The SIMD level the CPU kernels run at on this machine ("AVX2" or "DEFAULT").
const char* selected_simd();

DANN_DECLARE_CPU_KERNELS(base)
#if defined(__x86_64__) || defined(_M_X64)
#define DANN_HAVE_AVX2_KERNELS 1
DANN_DECLARE_CPU_KERNELS(avx2)
#endif

}  // namespace dann::cpu
