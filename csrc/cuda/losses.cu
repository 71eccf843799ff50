// domain_bce and domain_ce: loss, d loss / d logits and the number of correct predictions in one pass
// over the logits, with a deterministic reduction.
//
// Reduction scheme (no floating-point atomics): each block of the main kernel accumulates its rows'
// loss per thread in acc_t<T> (float, or double for double), reduces the block in a fixed shuffle
// tree and writes one partial to the workspace, together with its count of correct rows and a
// bad-label flag. A second kernel, one block, reads the partials in a fixed order and writes the
// final loss / count, and raises the caller's bad-label flag if a block saw a bad label. The grid size depends on the row count (and for domain_ce on K) only, so
// a given input gives the same bits on every run and every GPU.
//
// domain_ce maps each row to a group of G lanes of a warp: G = 1 (one thread per row) for K <= 8,
// G = 8 for K <= 64, G = 32 (a warp per row) above. Each lane strides over the row's columns and
// the group combines with xor shuffles, so every lane of a group ends with the same max / sum.
// The three passes over a row (max + argmax, sum of exp, gradient) re-read it from L1/L2.
#include "common.cuh"

namespace dann {
namespace cuda {
namespace {

struct Partials {
  void* loss;        // acc_t<T>[kMaxLossBlocks]
  int64_t* correct;  // [kMaxLossBlocks]
  int32_t* bad;      // [kMaxLossBlocks]
};

Partials partials(void* workspace) {
  char* ws = static_cast<char*>(workspace);
  return {ws, reinterpret_cast<int64_t*>(ws + kMaxLossBlocks * 8), reinterpret_cast<int32_t*>(ws + kMaxLossBlocks * 16)};
}

// Writes the block's three partials (thread 0). Called by every thread of the block.
template <typename CT>
__device__ __forceinline__ void write_partials(CT loss, long long correct, int bad, CT* part_loss,
                                               int64_t* part_correct, int32_t* part_bad) {
  __shared__ CT s_loss[kWarps];
  __shared__ long long s_correct[kWarps];
  __shared__ int s_bad[kWarps];
  loss = block_reduce(loss, s_loss, SumOp{});
  correct = block_reduce(correct, s_correct, SumOp{});
  bad = block_reduce(bad, s_bad, MaxOp{});
  if (threadIdx.x == 0) {
    part_loss[blockIdx.x] = loss;
    part_correct[blockIdx.x] = correct;
    part_bad[blockIdx.x] = bad;
  }
}

// One block: sums the partials of `n_parts` blocks in a fixed order and writes the outputs.
template <typename T>
__global__ void __launch_bounds__(kThreads)
    loss_finalize_kernel(const acc_t<T>* __restrict__ part_loss, const int64_t* __restrict__ part_correct,
                         const int32_t* __restrict__ part_bad, int n_parts, int64_t n_rows, int32_t reduction,
                         T* __restrict__ loss, int64_t* __restrict__ n_correct, int64_t* __restrict__ bad_labels,
                         int64_t bad_value) {
  using CT = acc_t<T>;
  __shared__ CT s_loss[kWarps];
  __shared__ long long s_correct[kWarps];
  __shared__ int s_bad[kWarps];
  CT acc = 0;
  long long correct = 0;
  int bad = 0;
  for (int i = threadIdx.x; i < n_parts; i += kThreads) {
    acc += part_loss[i];
    correct += part_correct[i];
    bad = bad > part_bad[i] ? bad : part_bad[i];
  }
  acc = block_reduce(acc, s_loss, SumOp{});
  correct = block_reduce(correct, s_correct, SumOp{});
  bad = block_reduce(bad, s_bad, MaxOp{});
  if (threadIdx.x == 0) {
    if (reduction != 0) loss[0] = from_acc<T>(reduction == 1 ? div_rn(acc, static_cast<CT>(n_rows)) : acc);
    *n_correct = correct;
    // Only ever set: the flag may live in host memory that other calls' kernels also write.
    if (bad_labels != nullptr && bad != 0) *bad_labels = bad_value;
  }
}

template <typename T>
__global__ void __launch_bounds__(kThreads)
    bce_kernel(const T* __restrict__ logits, int64_t n, const void* __restrict__ labels, int32_t label_dtype,
               int64_t n_source, const void* __restrict__ weight, int32_t weight_dtype, int32_t reduction,
               T* __restrict__ loss, T* __restrict__ grad, acc_t<T>* __restrict__ part_loss,
               int64_t* __restrict__ part_correct, int32_t* __restrict__ part_bad) {
  using CT = acc_t<T>;
  const CT one = 1, zero = 0, nan = CT(NAN);
  const CT n_ct = static_cast<CT>(n);
  CT acc = 0;
  long long correct = 0;
  int bad = 0;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    const CT z = to_acc(logits[i]);
    CT y = zero;
    bool ok = true;
    if (labels != nullptr) {
      ok = load_binary_label(labels, label_dtype, i, &y);
      bad |= !ok;
    } else {
      y = i >= n_source ? one : zero;
    }
    // max(z, 0) - y·z + log1p(exp(-|z|)), in the reference's order; never overflows.
    CT l = add_rn(sub_rn(z > zero ? z : zero, mul_rn(y, z)), log1p_(exp_(-abs_(z))));
    CT g = sub_rn(div_rn(one, add_rn(one, exp_(-z))), y);  // sigmoid(z) - y
    if (!ok) l = g = nan;  // the error is reported later; the step must not look healthy meanwhile
    if (weight != nullptr) {
      const CT w = load_float_as<CT>(weight, weight_dtype, i);
      l = mul_rn(l, w);
      g = mul_rn(g, w);
    }
    if (reduction == 1) g = div_rn(g, n_ct);
    grad[i] = from_acc<T>(g);
    if (reduction == 0) {
      loss[i] = from_acc<T>(l);
    } else {
      acc += l;
    }
    correct += ok && (z > zero ? one : zero) == y;
  }
  write_partials(acc, correct, bad, part_loss, part_correct, part_bad);
}

// torch.argmax's order: NaN beats everything (the first NaN wins), then the larger value, then the
// smaller index. A strict total order on (value, index) pairs with distinct indices.
template <typename CT>
__device__ __forceinline__ bool better(CT v, long long j, CT bv, long long bj) {
  const bool vn = isnan(v), bn = isnan(bv);
  if (vn || bn) return vn && (!bn || j < bj);
  return v > bv || (v == bv && j < bj);
}

template <typename T, int G>
__global__ void __launch_bounds__(kThreads)
    ce_kernel(const T* __restrict__ logits, int64_t n, int64_t k, const void* __restrict__ labels,
              int32_t label_dtype, const void* __restrict__ weight, int32_t weight_dtype, int32_t reduction,
              T* __restrict__ loss, T* __restrict__ grad, acc_t<T>* __restrict__ part_loss,
              int64_t* __restrict__ part_correct, int32_t* __restrict__ part_bad) {
  using CT = acc_t<T>;
  static_assert(G == 1 || G == 2 || G == 4 || G == 8 || G == 16 || G == 32, "G must divide a warp");
  constexpr int kRowsPerWarp = 32 / G;
  constexpr int kRowsPerBlock = kThreads / G;
  const CT n_ct = static_cast<CT>(n);
  const int lane = threadIdx.x & 31;
  const int sub = lane % G;  // this lane's first column
  CT acc = 0;
  long long correct = 0;
  int bad = 0;
  // Rows advance per warp (warp-uniform bounds), so all 32 lanes run every shuffle together; lanes
  // whose row is past the end take part with neutral values and touch no memory.
  const int64_t stride = static_cast<int64_t>(gridDim.x) * kRowsPerBlock;
  for (int64_t r0 = static_cast<int64_t>(blockIdx.x) * kRowsPerBlock + (threadIdx.x >> 5) * kRowsPerWarp; r0 < n;
       r0 += stride) {
    const int64_t row = r0 + lane / G;
    const bool valid = row < n;
    const T* zr = logits + (valid ? row : 0) * k;

    // Pass 1: max and first argmax.
    CT best = -INFINITY;
    long long best_j = LLONG_MAX;
    if (valid) {
      for (int64_t j = sub; j < k; j += G) {
        const CT v = to_acc(zr[j]);
        if (better(v, static_cast<long long>(j), best, best_j)) {
          best = v;
          best_j = j;
        }
      }
    }
    if constexpr (G > 1) {
#pragma unroll
      for (int off = G / 2; off > 0; off >>= 1) {
        const CT ov = __shfl_xor_sync(kFullMask, best, off, G);
        const long long oj = __shfl_xor_sync(kFullMask, best_j, off, G);
        if (better(ov, oj, best, best_j)) {
          best = ov;
          best_j = oj;
        }
      }
    }
    const CT m = best;

    // Pass 2: Σ exp(z - max); addition commutes exactly, so both xor partners get the same sum.
    CT s = 0;
    if (valid) {
      for (int64_t j = sub; j < k; j += G) s += exp_(sub_rn(to_acc(zr[j]), m));
    }
    if constexpr (G > 1) {
#pragma unroll
      for (int off = G / 2; off > 0; off >>= 1) s += __shfl_xor_sync(kFullMask, s, off, G);
    }
    const CT log_s = log_(s);

    // Pass 3: gradient softmax - onehot (·w, /N), loss -log_softmax[y] (·w), correct.
    if (valid) {
      const int64_t y = load_class_label(labels, label_dtype, row, k);  // -1 when out of range
      if (y < 0) bad = 1;  // the row gets NaNs: the error is reported later, the step must not look healthy
      const CT w = weight != nullptr ? load_float_as<CT>(weight, weight_dtype, row) : CT(1);
      T* gr = grad + row * k;
      for (int64_t j = sub; j < k; j += G) {
        CT g = exp_(sub_rn(sub_rn(to_acc(zr[j]), m), log_s));
        if (j == y) g = sub_rn(g, CT(1));
        if (weight != nullptr) g = mul_rn(g, w);
        if (reduction == 1) g = div_rn(g, n_ct);
        gr[j] = from_acc<T>(y < 0 ? CT(NAN) : g);
      }
      if (sub == 0) {
        CT l = CT(NAN);
        if (y >= 0) {
          l = -sub_rn(sub_rn(to_acc(zr[y]), m), log_s);
          if (weight != nullptr) l = mul_rn(l, w);
          correct += (best_j == y);
        }
        if (reduction == 0) {
          loss[row] = from_acc<T>(l);
        } else {
          acc += l;
        }
      }
    }
  }
  write_partials(acc, correct, bad, part_loss, part_correct, part_bad);
}

// After a loss kernel wrote one partial per block: checks its launch, then sums the partials in a
// fixed order into the loss, the correct count and the bad-label flag.
template <typename T>
cudaError_t finish_loss(const Partials& p, unsigned blocks, int64_t n, int32_t reduction, T* loss,
                        int64_t* n_correct, int64_t* bad_labels, int64_t bad_value, cudaStream_t stream) {
  cudaError_t err = cudaGetLastError();
  if (err != cudaSuccess) return err;
  loss_finalize_kernel<T><<<1, kThreads, 0, stream>>>(static_cast<const acc_t<T>*>(p.loss), p.correct, p.bad,
                                                     static_cast<int>(blocks), n, reduction, loss, n_correct,
                                                     bad_labels, bad_value);
  return cudaGetLastError();
}

template <typename T, int G>
cudaError_t launch_ce_group(const T* logits, int64_t n, int64_t k, const void* labels, int32_t label_dtype,
                            const void* weight, int32_t weight_dtype, int32_t reduction, T* loss, T* grad,
                            int64_t* n_correct, int64_t* bad_labels, void* workspace, cudaStream_t stream) {
  using CT = acc_t<T>;
  const Partials p = partials(workspace);
  const unsigned blocks = loss_blocks(n * G);  // ceil(n / rows per block), capped
  ce_kernel<T, G><<<blocks, kThreads, 0, stream>>>(logits, n, k, labels, label_dtype, weight, weight_dtype,
                                                   reduction, loss, grad, static_cast<CT*>(p.loss), p.correct,
                                                   p.bad);
  return finish_loss<T>(p, blocks, n, reduction, loss, n_correct, bad_labels, k, stream);
}

}  // namespace

int64_t loss_workspace_bytes(int64_t /*n_rows*/) { return kMaxLossBlocks * (8 + 8 + 4); }

template <typename T>
cudaError_t launch_domain_bce(const T* logits, int64_t n, const void* labels, int32_t label_dtype, int64_t n_source,
                              const void* weight, int32_t weight_dtype, int32_t reduction, T* loss, T* grad,
                              int64_t* n_correct, int64_t* bad_labels, void* workspace, cudaStream_t stream) {
  if (n <= 0) return cudaSuccess;
  using CT = acc_t<T>;
  const Partials p = partials(workspace);
  const unsigned blocks = loss_blocks(n);
  bce_kernel<T><<<blocks, kThreads, 0, stream>>>(logits, n, labels, label_dtype, n_source, weight, weight_dtype,
                                                 reduction, loss, grad, static_cast<CT*>(p.loss), p.correct, p.bad);
  return finish_loss<T>(p, blocks, n, reduction, loss, n_correct, bad_labels, 2, stream);
}

template <typename T>
cudaError_t launch_domain_ce(const T* logits, int64_t n, int64_t k, const void* labels, int32_t label_dtype,
                             const void* weight, int32_t weight_dtype, int32_t reduction, T* loss, T* grad,
                             int64_t* n_correct, int64_t* bad_labels, void* workspace, cudaStream_t stream) {
  if (n <= 0 || k <= 0) return cudaSuccess;
  if (k <= 8)
    return launch_ce_group<T, 1>(logits, n, k, labels, label_dtype, weight, weight_dtype, reduction, loss, grad,
                                 n_correct, bad_labels, workspace, stream);
  if (k <= 64)
    return launch_ce_group<T, 8>(logits, n, k, labels, label_dtype, weight, weight_dtype, reduction, loss, grad,
                                 n_correct, bad_labels, workspace, stream);
  return launch_ce_group<T, 32>(logits, n, k, labels, label_dtype, weight, weight_dtype, reduction, loss, grad,
                                n_correct, bad_labels, workspace, stream);
}

#define DANN_INSTANTIATE(T)                                                                                      \
  template cudaError_t launch_domain_bce<T>(const T*, int64_t, const void*, int32_t, int64_t, const void*, int32_t, \
                                            int32_t, T*, T*, int64_t*, int64_t*, void*, cudaStream_t);          \
  template cudaError_t launch_domain_ce<T>(const T*, int64_t, int64_t, const void*, int32_t, const void*, int32_t,  \
                                           int32_t, T*, T*, int64_t*, int64_t*, void*, cudaStream_t);

DANN_INSTANTIATE(float)
DANN_INSTANTIATE(double)
DANN_INSTANTIATE(__half)
DANN_INSTANTIATE(__nv_bfloat16)
#undef DANN_INSTANTIATE

}  // namespace cuda
}  // namespace dann
