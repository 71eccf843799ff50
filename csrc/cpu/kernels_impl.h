// The CPU kernels' bodies. Included once per SIMD level by kernels_<level>.cpp, which first defines
// DANN_NS (the namespace the level's instantiations live in) and ATen's CPU_CAPABILITY macros, so
// at::vec::Vectorized maps to that level's registers.
#include <ATen/Parallel.h>
#include <ATen/cpu/vec/functional.h>
#include <ATen/cpu/vec/vec.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels.h"

namespace dann::cpu::DANN_NS {
namespace {

using at::vec::Vectorized;

// Below this many elements an elementwise op stays on one thread: waking a second costs more.
constexpr int64_t kElementwiseGrain = 32768;
constexpr int64_t kChunksPerTask = 8;

// Moves kWidth consecutive T values in and out of compute-type vectors: one vector for float and
// double, two float vectors per 16-bit vector for bfloat16 and half. `count` < kWidth moves a tail.
template <typename T>
struct Lanes {
  using C = T;
  using V = Vectorized<C>;
  static constexpr int kParts = 1;
  static constexpr int64_t kWidth = V::size();
  static void load(const T* p, V* v, int64_t count = kWidth) { v[0] = V::loadu(p, count); }
  static void store(T* p, const V* v, int64_t count = kWidth) { v[0].store(p, count); }
};

template <typename T>
struct ReducedLanes {
  using C = float;
  using V = Vectorized<float>;
  static constexpr int kParts = 2;
  static constexpr int64_t kWidth = Vectorized<T>::size();
  static void load(const T* p, V* v, int64_t count = kWidth) {
    auto [lo, hi] = at::vec::convert_to_float<T>(Vectorized<T>::loadu(p, count));
    v[0] = lo;
    v[1] = hi;
  }
  static void store(T* p, const V* v, int64_t count = kWidth) {
    at::vec::convert_from_float<T>(v[0], v[1]).store(p, count);
  }
};

template <>
struct Lanes<c10::BFloat16> : ReducedLanes<c10::BFloat16> {};
template <>
struct Lanes<c10::Half> : ReducedLanes<c10::Half> {};

// Loads kWidth compute-type values (labels, weights), already in the compute type, as L's vectors.
template <typename L>
void load_compute(const typename L::C* p, typename L::V* v) {
  for (int part = 0; part < L::kParts; ++part) v[part] = L::V::loadu(p + part * L::V::size());
}

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

// exp(-|z|) and log1p of it are the loss's whole cost. For float, ATen's 20-ulp polynomial exp and
// the atanh series below are several times cheaper than Sleef's 1-ulp functions and stay well inside
// float32 rounding of the loss; double keeps the accurate functions.
inline Vectorized<float> exp_fast(const Vectorized<float>& x) { return x.exp_u20(); }
inline Vectorized<double> exp_fast(const Vectorized<double>& x) { return x.exp(); }

// log(1 + e) for e in [0, 1]: with s = e / (2 + e) in [0, 1/3], log(1 + e) = 2·atanh(s) =
// 2s·(1 + s²/3 + s⁴/5 + …). Seven terms leave a relative error under 2e-8; computing s from e (never
// from 1 + e) keeps tiny e exact.
inline Vectorized<float> log1p_unit(const Vectorized<float>& e) {
  using V = Vectorized<float>;
  const V two(2.0f);
  const V s = e / (two + e);
  const V s2 = s * s;
  V p(1.0f / 13);
  for (float c : {1.0f / 11, 1.0f / 9, 1.0f / 7, 1.0f / 5, 1.0f / 3, 1.0f}) p = at::vec::fmadd(p, s2, V(c));
  return two * s * p;
}
inline Vectorized<double> log1p_unit(const Vectorized<double>& e) { return e.log1p(); }

struct ChunkSums {
  double loss = 0;
  int64_t correct = 0;
  bool bad_label = false;
};

// One row of the binary loss in scalar arithmetic, for tails; the vector path below mirrors it.
template <typename T>
void bce_row(const BceArgs<T>& a, int64_t i, ChunkSums& sums) {
  using C = compute_t<T>;
  const C z = static_cast<C>(a.logits[i]);
  const C y = a.labels ? a.labels[i] : static_cast<C>(i >= a.n_source);
  sums.bad_label |= a.labels && y != C(0) && y != C(1);
  const C e = std::exp(-std::abs(z));
  const C r = C(1) / (C(1) + e);
  const C sigmoid = z >= C(0) ? r : e * r;
  const C w = a.weight ? a.weight[i] : C(1);
  const C loss = w * (std::max(z, C(0)) - y * z + std::log1p(e));
  a.grad[i] = static_cast<T>(w * (sigmoid - y) * static_cast<C>(a.grad_scale));
  if (a.loss_per_row) a.loss_per_row[i] = static_cast<T>(loss);
  sums.loss += loss;
  sums.correct += static_cast<C>(z > C(0)) == y;
}

template <typename T>
ChunkSums bce_chunk(const BceArgs<T>& a, int64_t begin, int64_t end) {
  using L = Lanes<T>;
  using C = typename L::C;
  using V = typename L::V;
  const V zero(C(0)), one(C(1)), grad_scale(static_cast<C>(a.grad_scale)), n_source(static_cast<C>(a.n_source));
  V loss_acc(C(0)), correct_acc(C(0)), bad_acc(C(0));
  V z[L::kParts], y[L::kParts], w[L::kParts], g[L::kParts], l[L::kParts];
  int64_t i = begin;
  for (; i + L::kWidth <= end; i += L::kWidth) {
    L::load(a.logits + i, z);
    if (a.labels) {
      load_compute<L>(a.labels + i, y);
    } else {
      for (int part = 0; part < L::kParts; ++part) {
        const int64_t first = i + part * V::size();
        if (first + V::size() <= a.n_source) {
          y[part] = zero;
        } else if (first >= a.n_source) {
          y[part] = one;
        } else {  // the one vector that straddles n_source; indices relative to it are exact in float
          y[part] = V::arange(static_cast<C>(first - a.n_source), C(1)).ge(zero);
        }
      }
    }
    if (a.weight) load_compute<L>(a.weight + i, w);
    for (int part = 0; part < L::kParts; ++part) {
      const V zp = z[part], yp = y[part];
      const V e = exp_fast(zp.abs().neg());
      const V r = one / (one + e);
      const V sigmoid = V::blendv(e * r, r, zp >= zero);
      V loss = at::vec::maximum(zp, zero) - yp * zp + log1p_unit(e);
      V grad = (sigmoid - yp) * grad_scale;
      if (a.weight) {
        loss = loss * w[part];
        grad = grad * w[part];
      }
      l[part] = loss;
      g[part] = grad;
      loss_acc = loss_acc + loss;
      correct_acc = correct_acc + zp.gt(zero).eq(yp);
      if (a.labels) bad_acc = bad_acc + yp.ne(zero) * yp.ne(one);
    }
    L::store(a.grad + i, g);
    if (a.loss_per_row) L::store(a.loss_per_row + i, l);
  }
  ChunkSums sums;
  C lanes[V::size()];
  loss_acc.store(lanes);
  for (C v : lanes) sums.loss += v;
  correct_acc.store(lanes);
  for (C v : lanes) sums.correct += static_cast<int64_t>(v);
  bad_acc.store(lanes);
  for (C v : lanes) sums.bad_label |= v != C(0);
  for (; i < end; ++i) bce_row(a, i, sums);
  return sums;
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

DANN_INSTANTIATE(float)
DANN_INSTANTIATE(double)
DANN_INSTANTIATE(c10::BFloat16)
DANN_INSTANTIATE(c10::Half)
#undef DANN_INSTANTIATE

}  // namespace dann::cpu::DANN_NS
