// The binary domain loss of one SIMD tier (included by kernels_impl.h): loss, d loss / d logits and
// the domain accuracy in one pass over the logits.
//
// Per row, with e = exp(-|z|) and r = 1/(1 + e):
//   loss = max(z, 0) − y·z + log(1 + e)
//   grad = sigmoid(z) − y, where sigmoid(z) is r for z > 0 and e·r otherwise; a row whose sign
//          agrees with its label gets ±e·r (never 1 − r, which would cancel), the others ±r.
// Rows come as a source range (y = 0), a target range (y = 1) or with a label tensor, so the n_source
// form never builds labels nor branches per row.
//
// An unweighted 'mean' or 'sum' (DANN's domain loss) needs no per-row log: over a block of rows,
// Σ log(1 + e) = log Π t + Σ (e − (t − 1))·r with t = fl(1 + e) in [1, 2], the second sum restoring
// what rounding 1 + e lost (t − 1 and e − (t − 1) are exact). A block holds at most 32 factors per
// lane (the product stays below 2^32), and each block's float sums go into a double.
#pragma once

#include <algorithm>
#include <cmath>

#include "vec_math.h"

namespace dann::cpu::DANN_NS {
namespace {

struct ChunkSums {
  double loss = 0;
  int64_t correct = 0;
  bool bad_label = false;
};

enum class Rows { kSource, kTarget, kLabeled };

// One row in scalar arithmetic (tails of a range); the vector loop below computes the same.
template <typename T, Rows K>
void bce_row(const BceArgs<T>& a, int64_t i, ChunkSums& sums) {
  using C = compute_t<T>;
  const C z = static_cast<C>(a.logits[i]);
  const C y = K == Rows::kLabeled ? a.labels[i] : C(K == Rows::kTarget);
  sums.bad_label |= y != C(0) && y != C(1);
  const C e = std::exp(-std::abs(z));
  const C r = C(1) / (C(1) + e);
  const C sigmoid = z > C(0) ? r : e * r;
  const C w = a.weight ? a.weight[i] : C(1);
  const C loss = w * (std::max(z, C(0)) - y * z + std::log1p(e));
  const C grad = y == C(1) ? (z > C(0) ? -e * r : -r) : sigmoid - y;  // for y = 1, sigmoid − 1 without cancelling
  a.grad[i] = static_cast<T>(w * grad * static_cast<C>(a.grad_scale));
  if (a.loss_per_row) a.loss_per_row[i] = static_cast<T>(loss);
  sums.loss += loss;
  sums.correct += static_cast<C>(z > C(0)) == y;
}

// Sums the lanes of v into a double.
template <typename V>
double lane_sum(const V& v) {
  typename V::value_type lanes[V::size()];
  v.store(lanes);
  double total = 0;
  for (auto x : lanes) total += x;
  return total;
}

template <typename T, Rows K, bool kWeighted, bool kPerRow>
void bce_range(const BceArgs<T>& a, int64_t begin, int64_t end, ChunkSums& sums) {
  using L = Lanes<T>;
  using C = typename L::C;
  using V = typename L::V;
  using M = LossMath<C>;
  constexpr bool kProduct = M::kProductLog && !kWeighted && !kPerRow;
  constexpr int kBlock = 16;  // vector iterations per block: ≤ 32 factors in a product lane
  using I = Vectorized<at::vec::int_same_size_t<C>>;  // counts: a true mask is −1 as an integer
  const V zero(C(0)), one(C(1)), scale(static_cast<C>(a.grad_scale)), neg_scale(-static_cast<C>(a.grad_scale));
  const V sign_bit(C(-0.0));
  V loss_acc = zero, corr_acc = zero, prod = one, bad_acc = zero;
  I minus_count(0);
  const T* logits = a.logits;  // locals: stores through a.grad could alias the struct's fields
  T* grad_out = a.grad;
  T* loss_out = a.loss_per_row;
  V z[L::kParts], y[L::kParts], w[L::kParts], g[L::kParts], l[L::kParts];
  double loss = 0;
  const auto flush = [&] {
    if constexpr (kProduct) {
      loss += lane_sum(loss_acc + corr_acc + prod.log());
      corr_acc = zero;
      prod = one;
    } else {
      loss += lane_sum(loss_acc);
    }
    loss_acc = zero;
  };
  int in_block = 0;
  int64_t i = begin;
  for (; i + L::kWidth <= end; i += L::kWidth) {
    L::load(logits + i, z);
    if constexpr (K == Rows::kLabeled) load_compute<L>(a.labels + i, y);
    if constexpr (kWeighted) load_compute<L>(a.weight + i, w);
    for (int part = 0; part < L::kParts; ++part) {
      const V zp = z[part];
      const V e = M::exp_neg(zp | sign_bit);  // e^-|z|
      const V t = one + e;
      const V r = M::recip(t);
      const V er = e * r;
      const V positive = zp > zero;  // a mask; false for NaN, as in the reference's count
      V grad, lin;
      if constexpr (K == Rows::kSource) {
        grad = V::blendv(er, r, positive) * scale;
        lin = at::vec::clamp_min(zp, zero);  // NaN stays NaN
        minus_count = minus_count + mask_bits(positive);
      } else if constexpr (K == Rows::kTarget) {
        grad = V::blendv(r, er, positive) * neg_scale;
        lin = at::vec::clamp_min(zp.neg(), zero);
        minus_count = minus_count + mask_bits(positive);
      } else {
        const V yp = y[part];
        const V is_target = yp == one;
        grad = V::blendv(er, r, positive ^ is_target) * V::blendv(scale, neg_scale, is_target);
        lin = at::vec::fnmadd(yp, zp, at::vec::clamp_min(zp, zero));
        minus_count = minus_count + mask_bits((positive & one) == yp);
        bad_acc = bad_acc | ((yp != zero) & (yp != one));
      }
      if constexpr (kProduct) {
        loss_acc = loss_acc + lin;
        prod = prod * t;
        corr_acc = at::vec::fmadd(e - (t - one), r, corr_acc);
      } else {
        V row = lin + M::log1p_unit(e);
        if constexpr (kWeighted) {
          row = row * w[part];
          grad = grad * w[part];
        }
        l[part] = row;
        loss_acc = loss_acc + row;
      }
      g[part] = grad;
    }
    L::store(grad_out + i, g);
    if constexpr (kPerRow) L::store(loss_out + i, l);
    if (++in_block == kBlock) {
      flush();
      in_block = 0;
    }
  }
  flush();
  const auto counted = -static_cast<int64_t>(lane_sum(minus_count));
  sums.loss += loss;
  sums.correct += K == Rows::kSource ? (i - begin) - counted : counted;
  if constexpr (K == Rows::kLabeled) sums.bad_label |= lane_sum(bad_acc & one) != 0;
  for (; i < end; ++i) bce_row<T, K>(a, i, sums);
}

template <typename T, bool kWeighted, bool kPerRow>
void bce_chunk_as(const BceArgs<T>& a, int64_t begin, int64_t end, ChunkSums& sums) {
  if (a.labels) {
    bce_range<T, Rows::kLabeled, kWeighted, kPerRow>(a, begin, end, sums);
    return;
  }
  const int64_t split = std::clamp(a.n_source, begin, end);
  if (begin < split) bce_range<T, Rows::kSource, kWeighted, kPerRow>(a, begin, split, sums);
  if (split < end) bce_range<T, Rows::kTarget, kWeighted, kPerRow>(a, split, end, sums);
}

template <typename T>
ChunkSums bce_chunk(const BceArgs<T>& a, int64_t begin, int64_t end) {
  ChunkSums sums;
  if (a.weight) {
    a.loss_per_row ? bce_chunk_as<T, true, true>(a, begin, end, sums) : bce_chunk_as<T, true, false>(a, begin, end, sums);
  } else {
    a.loss_per_row ? bce_chunk_as<T, false, true>(a, begin, end, sums) : bce_chunk_as<T, false, false>(a, begin, end, sums);
  }
  return sums;
}

}  // namespace
}  // namespace dann::cpu::DANN_NS
