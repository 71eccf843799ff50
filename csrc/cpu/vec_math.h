// Vector helpers of one SIMD tier: moving T values in and out of compute-type vectors, and the float
// math of the losses. Included once per tier (through kernels_impl.h) after the tier's
// CPU_CAPABILITY macros, so at::vec::Vectorized is that tier's register type.
#pragma once

#include <ATen/cpu/vec/functional.h>
#include <ATen/cpu/vec/vec.h>

#include <cstdint>
#include <type_traits>

#include "kernels.h"

namespace dann::cpu::DANN_NS {
namespace {

using at::vec::Vectorized;

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
#if defined(__AVX512BF16__)
    // The CPU's own round-to-nearest-even (denormal inputs and outputs flushed to zero), one
    // instruction for 32 values; ATen's convert_from_float spends an integer sequence on it.
    if constexpr (std::is_same_v<T, c10::BFloat16>) {
      const __m512i packed = reinterpret_cast<__m512i>(_mm512_cvtne2ps_pbh(v[1], v[0]));  // low half: v[0]
      if (count == kWidth) {
        _mm512_storeu_si512(p, packed);
      } else {
        _mm512_mask_storeu_epi16(p, static_cast<__mmask32>((uint64_t{1} << count) - 1), packed);
      }
      return;
    }
#endif
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

// e^x for x <= 0 (NaN stays NaN) to about 1 ulp: x = n·ln2 + r with |r| <= ln2/2 (ln2 split in two,
// Cody-Waite), Cephes's degree-7 polynomial for e^r in Horner form, and 2^n assembled in the
// exponent bits. Where 2^n would be subnormal (x < -87.68) it returns 0. All Vectorized operations,
// so every tier shares it.
inline Vectorized<float> exp_nonpositive(const Vectorized<float>& x) {
  using V = Vectorized<float>;
  const V xc = at::vec::clamp_min(x, V(-104.0f));  // −inf → −104; ATen's clamp_min keeps NaN
  const V magic(12582912.0f);                       // 1.5·2^23: adding it rounds to an integer
  const V n = at::vec::fmadd(xc, V(1.44269504088896341f), magic) - magic;
  V r = at::vec::fnmadd(n, V(0.693359375f), xc);
  r = at::vec::fnmadd(n, V(-2.12194440e-4f), r);
  V p(1.9875691500e-4f);
  for (float c : {1.3981999507e-3f, 8.3334519073e-3f, 4.1665795894e-2f, 1.6666665459e-1f, 5.0000001201e-1f,
                  1.0f, 1.0f})
    p = at::vec::fmadd(p, r, V(c));
  // (n + 127)·2^23 is an exact integer whose bit pattern is the float 2^n; at n <= −127 it is held
  // at 0, the pattern of 0.0f.
  const V biased = at::vec::clamp_min(at::vec::fmadd(n, V(8388608.0f), V(1065353216.0f)), V(0.0f));
  return p * at::vec::cast<float>(at::vec::convert_to_int_of_same_size(biased));
}

// 1/t for t in [1, 3]. AVX-512: the CPU's 14-bit estimate and one Newton step (about 1 ulp), which
// keeps the divider, shared with an FMA port on Intel cores, out of the loop. Elsewhere a true
// division: on the AMD EPYC this was measured on, the divider runs beside the FMA pipes and was
// faster than AVX's 12-bit estimate refined by Newton's step (and is exact).
inline Vectorized<float> reciprocal(const Vectorized<float>& t) {
#if defined(CPU_CAPABILITY_AVX512)
  const Vectorized<float> r0 = _mm512_rcp14_ps(t);
  return r0 * at::vec::fnmadd(t, r0, Vectorized<float>(2.0f));
#else
  return Vectorized<float>(1.0f) / t;
#endif
}

// log(1 + e) for e in [0, 1]: with s = e / (2 + e) in [0, 1/3], log(1 + e) = 2·atanh(s) =
// 2s·(1 + s²/3 + s⁴/5 + …). Seven terms leave a relative error under 2e-8; computing s from e (never
// from 1 + e) keeps tiny e exact.
inline Vectorized<float> log1p_unit(const Vectorized<float>& e) {
  using V = Vectorized<float>;
  const V two(2.0f);
  const V s = e * reciprocal(two + e);
  const V s2 = s * s;
  V p(1.0f / 13);
  for (float c : {1.0f / 11, 1.0f / 9, 1.0f / 7, 1.0f / 5, 1.0f / 3, 1.0f}) p = at::vec::fmadd(p, s2, V(c));
  return two * s * p;
}

// A comparison mask as integers (−1 where true), reinterpreted in its register: ATen's cast would
// go through memory.
template <typename C>
Vectorized<at::vec::int_same_size_t<C>> mask_bits(const Vectorized<C>& mask) {
#if defined(CPU_CAPABILITY_AVX512)
  if constexpr (std::is_same_v<C, float>) return _mm512_castps_si512(mask);
#elif defined(CPU_CAPABILITY_AVX2)
  if constexpr (std::is_same_v<C, float>) return _mm256_castps_si256(mask);
#endif
  return at::vec::cast<at::vec::int_same_size_t<C>>(mask);
}

// The loss's transcendental functions per compute type. Float takes the fast forms above (within a
// few ulp; the reference is the oracle in the tests); double keeps Sleef's 1-ulp functions and true
// division. kProductLog: an unweighted sum may take Σ log(1 + e) as the log of a product (bce_impl.h).
template <typename C>
struct LossMath;

template <>
struct LossMath<float> {
  using V = Vectorized<float>;
  static constexpr bool kProductLog = true;
  static V exp_neg(const V& x) { return exp_nonpositive(x); }
  static V recip(const V& t) { return reciprocal(t); }
  static V log1p_unit(const V& e) { return DANN_NS::log1p_unit(e); }
};

template <>
struct LossMath<double> {
  using V = Vectorized<double>;
  static constexpr bool kProductLog = false;
  static V exp_neg(const V& x) { return x.exp(); }
  static V recip(const V& t) { return V(1.0) / t; }
  static V log1p_unit(const V& e) { return e.log1p(); }
};

}  // namespace
}  // namespace dann::cpu::DANN_NS
