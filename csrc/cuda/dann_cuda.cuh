// Host-side interface of the CUDA kernels: plain pointers, sizes and a stream, no torch headers.
//
// Included by the .cu files (nvcc) and by cuda_ops.cpp (the host compiler), so it holds declarations
// only. Every launcher is a template explicitly instantiated in its .cu for float, double, __half and
// __nv_bfloat16 (the `extern template` lines below), returns the launch's cudaError_t and launches
// nothing for empty input.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime_api.h>

#include <cstdint>

namespace dann {
namespace cuda {

// Element types of the tensors that kernels read through a `const void*` (λ, labels, weights), so
// that the kernels need no instantiation per pair of dtypes. The binding maps at::ScalarType to these.
enum DType : int32_t {
  kF32 = 0,
  kF64,
  kF16,
  kBF16,
  kBool,
  kU8,
  kI8,
  kI16,
  kI32,
  kI64,
  kU16,
  kU32,
  kU64,
};

// λ without a host sync: a value read on the host from a CPU tensor (ptr == nullptr), or a pointer to
// a 0-dim tensor on the kernel's device, read by every thread (one cached load) and converted to the
// compute type as `lambd.to(compute_dtype)` does.
struct LambdaArg {
  const void* ptr;  // device pointer, or nullptr to use `host`
  int32_t dtype;    // kF32 / kF64 / kF16 / kBF16 when ptr is set
  double host;
};

// grl_backward: out[i] = -λ·in[i], n elements, contiguous.
template <typename T>
cudaError_t launch_grl_backward(const T* in, T* out, int64_t n, LambdaArg lambd, cudaStream_t stream);

// split_reverse_backward: out[i] = -λ·grad_domain[i] + (i < n_label ? grad_label[i] : 0). grad_label
// may be nullptr (then n_label is ignored); it holds n_label elements, the first rows of grad_domain.
template <typename T>
cudaError_t launch_split_reverse_backward(const T* grad_label, const T* grad_domain, T* out, int64_t n,
                                          int64_t n_label, LambdaArg lambd, cudaStream_t stream);

// Scratch bytes the two loss launchers need for their per-block partials (deterministic reduction).
int64_t loss_workspace_bytes(int64_t n_rows);

// domain_bce over n logits. labels: nullptr (row r is target iff r >= n_source) or n values of
// label_dtype that must be 0 or 1. weight: nullptr or n values of weight_dtype (a float DType).
// reduction: 0 none (loss has n elements), 1 mean, 2 sum (loss has 1 element). Writes loss, grad (n) and
// *n_correct. A row whose label is not 0/1 gets a NaN loss and gradient, and then, if bad_labels is not
// null, the last kernel sets *bad_labels = 2 (never clears it): a flag the host reads later, so that
// nothing waits for the GPU (see cuda_ops.cpp).
template <typename T>
cudaError_t launch_domain_bce(const T* logits, int64_t n, const void* labels, int32_t label_dtype, int64_t n_source,
                              const void* weight, int32_t weight_dtype, int32_t reduction, T* loss, T* grad,
                              int64_t* n_correct, int64_t* bad_labels, void* workspace, cudaStream_t stream);

// domain_ce over n rows of k logits (row-major). labels: n integers of label_dtype, each in [0, k); a row
// whose label is not gets NaNs, and *bad_labels = k. Other arguments as for launch_domain_bce.
template <typename T>
cudaError_t launch_domain_ce(const T* logits, int64_t n, int64_t k, const void* labels, int32_t label_dtype,
                             const void* weight, int32_t weight_dtype, int32_t reduction, T* loss, T* grad,
                             int64_t* n_correct, int64_t* bad_labels, void* workspace, cudaStream_t stream);

#define DANN_CUDA_DECLARE_LAUNCHERS(T)                                                                              \
  extern template cudaError_t launch_grl_backward<T>(const T*, T*, int64_t, LambdaArg, cudaStream_t);              \
  extern template cudaError_t launch_split_reverse_backward<T>(const T*, const T*, T*, int64_t, int64_t, LambdaArg, \
                                                               cudaStream_t);                                     \
  extern template cudaError_t launch_domain_bce<T>(const T*, int64_t, const void*, int32_t, int64_t, const void*,  \
                                                   int32_t, int32_t, T*, T*, int64_t*, int64_t*, void*,           \
                                                   cudaStream_t);                                                 \
  extern template cudaError_t launch_domain_ce<T>(const T*, int64_t, int64_t, const void*, int32_t, const void*,   \
                                                  int32_t, int32_t, T*, T*, int64_t*, int64_t*, void*,            \
                                                  cudaStream_t);

DANN_CUDA_DECLARE_LAUNCHERS(float)
DANN_CUDA_DECLARE_LAUNCHERS(double)
DANN_CUDA_DECLARE_LAUNCHERS(__half)
DANN_CUDA_DECLARE_LAUNCHERS(__nv_bfloat16)
#undef DANN_CUDA_DECLARE_LAUNCHERS

}  // namespace cuda
}  // namespace dann
