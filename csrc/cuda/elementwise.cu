// grl_backward and split_reverse_backward: one read and one write per element, 128-bit accesses.
//
// Each thread handles one pack of V = 16 / sizeof(T) elements per grid-stride step (float4-sized:
// 4 floats, 2 doubles, 8 halves / bfloat16s); the last n % V elements are a scalar tail. The packed
// path needs every pointer 16-byte aligned; otherwise the same kernel runs with V = 1. Arithmetic is
// in float32 (float64 for double) with correctly rounded mul/add, so results equal the reference's.
#include "common.cuh"

namespace dann {
namespace cuda {
namespace {

template <typename T, int V>
__global__ void __launch_bounds__(kThreads)
    grl_backward_kernel(const T* __restrict__ in, T* __restrict__ out, int64_t n, LambdaArg lambd) {
  using CT = acc_t<T>;
  using P = Pack<T, V>;
  const CT neg = -read_lambda<CT>(lambd);
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  const int64_t tid = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  const int64_t n_packs = n / V;
  for (int64_t p = tid; p < n_packs; p += stride) {
    const P a = reinterpret_cast<const P*>(in)[p];
    P r;
#pragma unroll
    for (int k = 0; k < V; ++k) r.v[k] = from_acc<T>(mul_rn(to_acc(a.v[k]), neg));
    reinterpret_cast<P*>(out)[p] = r;
  }
  for (int64_t i = n_packs * V + tid; i < n; i += stride) out[i] = from_acc<T>(mul_rn(to_acc(in[i]), neg));
}

// out[i] = -λ·gd[i] + gl[i] for i < n_label, -λ·gd[i] after (n_label = 0 when there is no gl).
template <typename T, int V>
__global__ void __launch_bounds__(kThreads)
    split_reverse_kernel(const T* __restrict__ gl, const T* __restrict__ gd, T* __restrict__ out, int64_t n,
                         int64_t n_label, LambdaArg lambd) {
  using CT = acc_t<T>;
  using P = Pack<T, V>;
  const CT neg = -read_lambda<CT>(lambd);
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  const int64_t tid = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  const int64_t n_packs = n / V;
  for (int64_t p = tid; p < n_packs; p += stride) {
    const int64_t base = p * V;
    const P d = reinterpret_cast<const P*>(gd)[p];
    P r;
    if (base + V <= n_label) {  // the whole pack lies in the label rows (gl has n_label elements)
      const P l = reinterpret_cast<const P*>(gl)[p];
#pragma unroll
      for (int k = 0; k < V; ++k) r.v[k] = from_acc<T>(add_rn(mul_rn(to_acc(d.v[k]), neg), to_acc(l.v[k])));
    } else if (base >= n_label) {
#pragma unroll
      for (int k = 0; k < V; ++k) r.v[k] = from_acc<T>(mul_rn(to_acc(d.v[k]), neg));
    } else {  // the one pack that straddles the boundary
#pragma unroll
      for (int k = 0; k < V; ++k) {
        const CT s = mul_rn(to_acc(d.v[k]), neg);
        r.v[k] = from_acc<T>(base + k < n_label ? add_rn(s, to_acc(gl[base + k])) : s);
      }
    }
    reinterpret_cast<P*>(out)[p] = r;
  }
  for (int64_t i = n_packs * V + tid; i < n; i += stride) {
    const CT s = mul_rn(to_acc(gd[i]), neg);
    out[i] = from_acc<T>(i < n_label ? add_rn(s, to_acc(gl[i])) : s);
  }
}

}  // namespace

template <typename T>
cudaError_t launch_grl_backward(const T* in, T* out, int64_t n, LambdaArg lambd, cudaStream_t stream) {
  if (n <= 0) return cudaSuccess;
  constexpr int V = vec_width<T>();
  if (aligned16(in) && aligned16(out)) {
    grl_backward_kernel<T, V><<<elementwise_blocks(n / V > 0 ? n / V : n), kThreads, 0, stream>>>(in, out, n, lambd);
  } else {
    grl_backward_kernel<T, 1><<<elementwise_blocks(n), kThreads, 0, stream>>>(in, out, n, lambd);
  }
  return cudaGetLastError();
}

template <typename T>
cudaError_t launch_split_reverse_backward(const T* grad_label, const T* grad_domain, T* out, int64_t n,
                                          int64_t n_label, LambdaArg lambd, cudaStream_t stream) {
  if (n <= 0) return cudaSuccess;
  if (grad_label == nullptr || n_label <= 0) {
    grad_label = nullptr;
    n_label = 0;
  }
  if (n_label > n) n_label = n;  // the binding guarantees n_label <= n; never read past gl regardless
  constexpr int V = vec_width<T>();
  const bool packed = aligned16(grad_domain) && aligned16(out) && (grad_label == nullptr || aligned16(grad_label));
  if (packed) {
    split_reverse_kernel<T, V><<<elementwise_blocks(n / V > 0 ? n / V : n), kThreads, 0, stream>>>(
        grad_label, grad_domain, out, n, n_label, lambd);
  } else {
    split_reverse_kernel<T, 1>
        <<<elementwise_blocks(n), kThreads, 0, stream>>>(grad_label, grad_domain, out, n, n_label, lambd);
  }
  return cudaGetLastError();
}

#define DANN_INSTANTIATE(T)                                                                              \
  template cudaError_t launch_grl_backward<T>(const T*, T*, int64_t, LambdaArg, cudaStream_t);          \
  template cudaError_t launch_split_reverse_backward<T>(const T*, const T*, T*, int64_t, int64_t, LambdaArg, \
                                                        cudaStream_t);

DANN_INSTANTIATE(float)
DANN_INSTANTIATE(double)
DANN_INSTANTIATE(__half)
DANN_INSTANTIATE(__nv_bfloat16)
#undef DANN_INSTANTIATE

}  // namespace cuda
}  // namespace dann
