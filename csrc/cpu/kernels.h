// CPU kernels on raw pointers, compiled once per SIMD tier (kernels_<tier>.cpp, each with its own
// compiler flags, see capability.h) and chosen at run time by DANN_CPU_CALL. No ATen tensor types
// here: the bindings own validation and allocation, the kernels own the arithmetic.
#pragma once

#include <c10/util/BFloat16.h>
#include <c10/util/Half.h>

#include <cstdint>
#include <type_traits>

#include "capability.h"

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

DANN_DECLARE_CPU_KERNELS(base)
#if defined(__x86_64__) || defined(_M_X64)
#define DANN_HAVE_X86_TIERS 1
DANN_DECLARE_CPU_KERNELS(avx2)
DANN_DECLARE_CPU_KERNELS(avx512)
DANN_DECLARE_CPU_KERNELS(avx512_bf16)  // instantiated for c10::BFloat16 only
#endif

}  // namespace dann::cpu

// Calls cpu::<tier>::FN<T>(...) for the active tier. The avx512_bf16 tier differs from avx512 only in
// how bfloat16 results are rounded (the CPU's own conversion), so other dtypes run avx512's kernels.
#if defined(DANN_HAVE_X86_TIERS)
#define DANN_CPU_CALL(T, FN, ...)                                                      \
  ([&]() -> decltype(::dann::cpu::base::FN<T>(__VA_ARGS__)) {                           \
    using ::dann::cpu::Capability;                                                    \
    switch (::dann::cpu::active_capability()) {                                       \
      case Capability::kAvx512Bf16:                                                   \
        if constexpr (std::is_same_v<T, c10::BFloat16>)                               \
          return ::dann::cpu::avx512_bf16::FN<T>(__VA_ARGS__);                        \
        [[fallthrough]];                                                              \
      case Capability::kAvx512:                                                       \
        return ::dann::cpu::avx512::FN<T>(__VA_ARGS__);                               \
      case Capability::kAvx2:                                                         \
        return ::dann::cpu::avx2::FN<T>(__VA_ARGS__);                                 \
      default:                                                                        \
        return ::dann::cpu::base::FN<T>(__VA_ARGS__);                                 \
    }                                                                                 \
  }())
#else
#define DANN_CPU_CALL(T, FN, ...) ::dann::cpu::base::FN<T>(__VA_ARGS__)
#endif
