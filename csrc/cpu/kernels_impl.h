// The CPU kernels' bodies. Included once per SIMD tier by kernels_<tier>.cpp, which first defines
// DANN_NS (the namespace the tier's instantiations live in) and ATen's CPU_CAPABILITY macros, so
// at::vec::Vectorized maps to that tier's registers.
#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "bce_impl.h"
#include "kernels.h"
#include "vec_math.h"

namespace dann::cpu::DANN_NS {
namespace {

// Below this many elements an elementwise op stays on one thread: waking a second costs more.
constexpr int64_t kElementwiseGrain = 32768;
constexpr int64_t kChunksPerTask = 8;

template <typename T>
void scale(const T* in, T* out, int64_t begin, int64_t end, compute_t<T> factor) {
  using L = Lanes<T>;
  const typename L::V f(factor);
  typename L::V v[L::kParts];
  int64_t i = begin;
  for (; i + L::kWidth <= end; i += L::kWidth) {
    L::load(in + i, v);
    for (auto& x : v) x = x * f;
    L::store(out + i, v);
  }
  if (i < end) {
    L::load(in + i, v, end - i);
    for (auto& x : v) x = x * f;
    L::store(out + i, v, end - i);
  }
}

template <typename T>
void scale_add(const T* in, const T* addend, T* out, int64_t begin, int64_t end, compute_t<T> factor) {
  using L = Lanes<T>;
  const typename L::V f(factor);
  typename L::V v[L::kParts], a[L::kParts];
  int64_t i = begin;
  for (; i + L::kWidth <= end; i += L::kWidth) {
    L::load(in + i, v);
    L::load(addend + i, a);
    for (int part = 0; part < L::kParts; ++part) v[part] = at::vec::fmadd(v[part], f, a[part]);
    L::store(out + i, v);
  }
  if (i < end) {
    L::load(in + i, v, end - i);
    L::load(addend + i, a, end - i);
    for (int part = 0; part < L::kParts; ++part) v[part] = at::vec::fmadd(v[part], f, a[part]);
    L::store(out + i, v, end - i);
  }
}

template <typename T>
ChunkSums ce_chunk(const CeArgs<T>& a, int64_t begin, int64_t end) {
  using C = compute_t<T>;
  ChunkSums sums;
  std::vector<C> row(a.k);
  const C grad_scale = static_cast<C>(a.grad_scale);
  for (int64_t r = begin; r < end; ++r) {
    const T* z = a.logits + r * a.k;
    T* g = a.grad + r * a.k;
    const int64_t y = a.labels[r];
    if (y < 0 || y >= a.k) {
      sums.bad_label = true;
      continue;
    }
    // torch.argmax semantics: the first maximum wins, and a NaN counts as the maximum.
    int64_t argmax = 0;
    C max = static_cast<C>(z[0]);
    for (int64_t j = 0; j < a.k; ++j) {
      row[j] = static_cast<C>(z[j]);
      if (!std::isnan(max) && (row[j] > max || std::isnan(row[j]))) {
        max = row[j];
        argmax = j;
      }
    }
    C sum = 0;
    for (int64_t j = 0; j < a.k; ++j) sum += std::exp(row[j] - max);
    const C log_sum = max + std::log(sum);
    const C w = a.weight ? a.weight[r] : C(1);
    const C loss = w * (log_sum - row[y]);
    const C gw = w * grad_scale;
    for (int64_t j = 0; j < a.k; ++j) g[j] = static_cast<T>(gw * (std::exp(row[j] - log_sum) - C(j == y)));
    if (a.loss_per_row) a.loss_per_row[r] = static_cast<T>(loss);
    sums.loss += loss;
    sums.correct += argmax == y;
  }
  return sums;
}

// Runs `chunk(begin, end)` over fixed-size pieces of [0, n) in parallel and adds the results in
// piece order, so the sums do not depend on how many threads ran.
template <typename ChunkFn>
LossSums reduce_chunks(int64_t n, int64_t chunk_size, const ChunkFn& chunk) {
  const int64_t n_chunks = (n + chunk_size - 1) / chunk_size;
  if (n_chunks == 1) {  // a training batch: no buffer, no parallel region
    const ChunkSums p = chunk(0, n);
    return LossSums{p.loss, p.correct, p.bad_label};
  }
  std::vector<ChunkSums> parts(n_chunks);
  at::parallel_for(0, n_chunks, kChunksPerTask, [&](int64_t first, int64_t last) {
    for (int64_t c = first; c < last; ++c) parts[c] = chunk(c * chunk_size, std::min(n, (c + 1) * chunk_size));
  });
  LossSums total;
  for (const auto& p : parts) {
    total.loss_sum += p.loss;
    total.n_correct += p.correct;
    total.bad_label |= p.bad_label;
  }
  return total;
}

}  // namespace

template <typename T>
void grl_backward(const T* grad, T* out, int64_t n, double neg_lambda) {
  at::parallel_for(0, n, kElementwiseGrain, [&](int64_t begin, int64_t end) {
    scale(grad, out, begin, end, static_cast<compute_t<T>>(neg_lambda));
  });
}

template <typename T>
void split_reverse_backward(const T* grad_label, const T* grad_domain, T* out, int64_t n, int64_t n_label,
                            double neg_lambda) {
  const auto factor = static_cast<compute_t<T>>(neg_lambda);
  if (!grad_label) n_label = 0;
  at::parallel_for(0, n, kElementwiseGrain, [&](int64_t begin, int64_t end) {
    const int64_t split = std::clamp(n_label, begin, end);
    scale_add(grad_domain, grad_label, out, begin, split, factor);
    scale(grad_domain, out, split, end, factor);
  });
}

template <typename T>
LossSums domain_bce(const BceArgs<T>& args) {
  return reduce_chunks(args.n, kChunk, [&](int64_t b, int64_t e) { return bce_chunk(args, b, e); });
}

template <typename T>
LossSums domain_ce(const CeArgs<T>& args) {
  const int64_t rows_per_chunk = std::max<int64_t>(1, kChunk / std::max<int64_t>(args.k, 1));
  return reduce_chunks(args.n, rows_per_chunk, [&](int64_t b, int64_t e) { return ce_chunk(args, b, e); });
}

#define DANN_INSTANTIATE(T)                                                                             \
  template void grl_backward<T>(const T*, T*, int64_t, double);                                        \
  template void split_reverse_backward<T>(const T*, const T*, T*, int64_t, int64_t, double);          \
  template LossSums domain_bce<T>(const BceArgs<T>&);                                                  \
  template LossSums domain_ce<T>(const CeArgs<T>&);

#if !defined(DANN_BF16_ONLY)
DANN_INSTANTIATE(float)
DANN_INSTANTIATE(double)
DANN_INSTANTIATE(c10::Half)
#endif
DANN_INSTANTIATE(c10::BFloat16)
#undef DANN_INSTANTIATE

}  // namespace dann::cpu::DANN_NS
