// GELU (exact, erf) and SiLU on contiguous f32 and bf16 arrays, vectorised and on all threads. The
// generic elementwise map calls libm's scalar erff/expf per element: GELU was ~8% of a Uni-Mol
// training step (its FFN and pair-bias MLP apply it to ~20 M values per batch), and SiLU is Llama's
// FFN activation.
//
//   GELU  forward   y  = x·Φ(x),                Φ(x) = erfc(-x/√2) / 2
//         backward  dx = dy·(Φ(x) + x·φ(x)),     φ(x) = exp(-x²/2) / √(2π)
//   SiLU  forward   y  = x·σ(x),                 σ(x) = 1 / (1 + exp(-x))
//         backward  dx = dy·σ(x)·(1 + x·(1 - σ(x)))
//
// Paths, chosen at run time:
// - AVX-512 (kernels/avx512.hpp), f32 and bf16 (widened exactly, computed in f32, rounded once):
//   erfc(z) for z ≥ 0 as t·P(t)·exp(-z²), t = 1/(1 + p·z) (Abramowitz & Stegun 7.1.26, within
//   1.5e-7 of erfc) and Φ(x) = erfc(|z|)/2 or 1 - erfc(|z|)/2 by the sign of x; σ from e = exp(-|x|)
//   (never overflows) as 1/(1 + e) or e/(1 + e) by the sign of x.
// - Elsewhere, f32 GELU uses Eigen's packet erf and exp (within 4e-7 of erf); other cases fall back
//   to the generic map (backend/cpu/elementwise.hpp).
// In GELU's far negative tail, where Φ is tiny and an absolute error of 1.5e-7 would be all of it,
// x < -3 is recomputed with libm's erfc (few elements; more accurate there than the float erf PyTorch
// uses).
#pragma once

#include "molm/backend/cpu/kernels/avx512.hpp"
#include "molm/backend/kernels.hpp"
#include "molm/tensor/iter.hpp"

#include <unsupported/Eigen/SpecialFunctions>

#include <algorithm>
#include <cmath>
#include <cstdint>

namespace molm::backend {

namespace detail {
inline constexpr std::int64_t kActivationChunk = 4096;
inline constexpr float kInvSqrt2f = 0.70710678118654752440f, kInvSqrt2Pif = 0.39894228040143267794f;

/// f(begin, len) over chunks of [0, n), on all threads when n is large.
template <class F> void for_activation_chunks(std::int64_t n, F&& f) {
  molm::detail::parallel_for_chunks(n, kActivationChunk, 8, f);
}

/// The erfc-accurate GELU value and derivative for one x < -3 (the tail fix-up).
inline float gelu_tail(float x) { return 0.5f * x * std::erfc(-x * kInvSqrt2f); }
inline float gelu_grad_tail(float x) {
  return 0.5f * std::erfc(-x * kInvSqrt2f) + x * kInvSqrt2Pif * std::exp(-0.5f * x * x);
}
}  // namespace detail

#ifdef MOLM_HAVE_AVX512_KERNELS
namespace avx512 {
/// 1/d for 16 floats d ≥ 1: VRCP14PS (relative error ≤ 2⁻¹⁴) and one Newton step (≤ 2⁻²⁷), cheaper
/// than a division.
MOLM_AVX512 inline __m512 reciprocal(__m512 d) {
  const __m512 r = _mm512_maskz_rcp14_ps(kAll, d);
  return _mm512_mul_ps(r, _mm512_fnmadd_ps(d, r, _mm512_set1_ps(2.0f)));
}

/// Φ(x) and exp(-x²/2) for 16 floats.
MOLM_AVX512 inline __m512 normal_cdf(__m512 x, __m512& gauss) {
  const __m512 z = _mm512_abs_ps(_mm512_mul_ps(x, _mm512_set1_ps(detail::kInvSqrt2f)));
  const __m512 t = reciprocal(_mm512_fmadd_ps(z, _mm512_set1_ps(0.3275911f), _mm512_set1_ps(1.0f)));
  __m512 p = _mm512_set1_ps(1.061405429f);
  p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(-1.453152027f));
  p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(1.421413741f));
  p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(-0.284496736f));
  p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(0.254829592f));
  gauss = exp_nonpositive(_mm512_mul_ps(_mm512_mul_ps(z, z), _mm512_set1_ps(-1.0f)));  // exp(-z²) = exp(-x²/2)
  const __m512 half_erfc = _mm512_mul_ps(_mm512_mul_ps(_mm512_mul_ps(p, t), gauss), _mm512_set1_ps(0.5f));
  const __mmask16 negative = _mm512_cmp_ps_mask(x, _mm512_setzero_ps(), _CMP_LT_OQ);
  return _mm512_mask_mov_ps(_mm512_sub_ps(_mm512_set1_ps(1.0f), half_erfc), negative, half_erfc);
}

/// σ(x) for 16 floats.
MOLM_AVX512 inline __m512 sigmoid(__m512 x) {
  const __m512 e = exp_nonpositive(_mm512_sub_ps(_mm512_setzero_ps(), _mm512_abs_ps(x)));
  const __m512 inv = reciprocal(_mm512_add_ps(_mm512_set1_ps(1.0f), e));
  const __mmask16 negative = _mm512_cmp_ps_mask(x, _mm512_setzero_ps(), _CMP_LT_OQ);
  return _mm512_mask_mul_ps(inv, negative, e, inv);
}

/// The lanes of v below -3 (GELU's tail, recomputed with libm's erfc by the callers).
MOLM_AVX512 inline __mmask16 gelu_tail_lanes(__m512 v, __mmask16 k) {
  return _mm512_mask_cmp_ps_mask(k, v, _mm512_set1_ps(-3.0f), _CMP_LT_OQ);
}

template <class T> MOLM_AVX512 void gelu_forward(const T* x, T* y, std::int64_t n) {
  for (std::int64_t j = 0; j < n; j += 16) {
    const __mmask16 k = tail_mask(j, n);
    const __m512 v = load(x + j, k);
    __m512 gauss;
    store(y + j, _mm512_mul_ps(v, normal_cdf(v, gauss)), k);
    if (const __mmask16 tail = gelu_tail_lanes(v, k))
      for (int i = 0; i < 16; ++i)
        if (tail >> i & 1) y[j + i] = static_cast<T>(detail::gelu_tail(static_cast<float>(x[j + i])));
  }
}

template <class T> MOLM_AVX512 void gelu_backward(const T* dy, const T* x, T* dx, std::int64_t n) {
  for (std::int64_t j = 0; j < n; j += 16) {
    const __mmask16 k = tail_mask(j, n);
    const __m512 v = load(x + j, k);
    __m512 gauss;
    const __m512 cdf = normal_cdf(v, gauss);
    const __m512 grad = _mm512_fmadd_ps(_mm512_mul_ps(v, _mm512_set1_ps(detail::kInvSqrt2Pif)), gauss, cdf);
    store(dx + j, _mm512_mul_ps(load(dy + j, k), grad), k);
    if (const __mmask16 tail = gelu_tail_lanes(v, k))
      for (int i = 0; i < 16; ++i)
        if (tail >> i & 1)
          dx[j + i] =
              static_cast<T>(static_cast<float>(dy[j + i]) * detail::gelu_grad_tail(static_cast<float>(x[j + i])));
  }
}

template <class T> MOLM_AVX512 void silu_forward(const T* x, T* y, std::int64_t n) {
  for (std::int64_t j = 0; j < n; j += 16) {
    const __mmask16 k = tail_mask(j, n);
    const __m512 v = load(x + j, k);
    store(y + j, _mm512_mul_ps(v, sigmoid(v)), k);
  }
}

template <class T> MOLM_AVX512 void silu_backward(const T* dy, const T* x, T* dx, std::int64_t n) {
  const __m512 one = _mm512_set1_ps(1.0f);
  for (std::int64_t j = 0; j < n; j += 16) {
    const __mmask16 k = tail_mask(j, n);
    const __m512 v = load(x + j, k), s = sigmoid(v);
    const __m512 grad = _mm512_mul_ps(s, _mm512_fmadd_ps(v, _mm512_sub_ps(one, s), one));
    store(dx + j, _mm512_mul_ps(load(dy + j, k), grad), k);
  }
}
}  // namespace avx512
#endif

// The kernels below take f32 or bf16 arrays; callers go through try_fast_activation_* (the end of
// this file), which knows which of them this CPU can run.

template <class T> void gelu_forward(const T* x, T* y, std::int64_t n) {
  detail::for_activation_chunks(n, [&](std::int64_t begin, std::int64_t len) {
#ifdef MOLM_HAVE_AVX512_KERNELS
    if (cpu_has_avx512()) return avx512::gelu_forward(x + begin, y + begin, len);  // tail included
#endif
    if constexpr (std::is_same_v<T, float>) {
      const Eigen::Map<const Eigen::ArrayXf> xs(x + begin, len);
      Eigen::Map<Eigen::ArrayXf> ys(y + begin, len);
      ys = 0.5f * xs * (1.0f + (xs * detail::kInvSqrt2f).erf());
      for (std::int64_t i = begin; i < begin + len; ++i)
        if (x[i] < -3.0f) y[i] = detail::gelu_tail(x[i]);
    }
  });
}

template <class T> void gelu_backward(const T* dy, const T* x, T* dx, std::int64_t n) {
  detail::for_activation_chunks(n, [&](std::int64_t begin, std::int64_t len) {
#ifdef MOLM_HAVE_AVX512_KERNELS
    if (cpu_has_avx512()) return avx512::gelu_backward(dy + begin, x + begin, dx + begin, len);  // tail included
#endif
    if constexpr (std::is_same_v<T, float>) {
      const Eigen::Map<const Eigen::ArrayXf> xs(x + begin, len), g(dy + begin, len);
      Eigen::Map<Eigen::ArrayXf> out(dx + begin, len);
      out = g * (0.5f * (1.0f + (xs * detail::kInvSqrt2f).erf()) +
                 xs * detail::kInvSqrt2Pif * (-0.5f * xs.square()).exp());
      for (std::int64_t i = begin; i < begin + len; ++i)
        if (x[i] < -3.0f) dx[i] = dy[i] * detail::gelu_grad_tail(x[i]);
    }
  });
}

/// SiLU: the AVX-512 path only.
template <class T> void silu_forward(const T* x, T* y, std::int64_t n) {
#ifdef MOLM_HAVE_AVX512_KERNELS
  detail::for_activation_chunks(n, [&](std::int64_t begin, std::int64_t len) {
    avx512::silu_forward(x + begin, y + begin, len);
  });
#else
  (void)x, (void)y, (void)n;
#endif
}
template <class T> void silu_backward(const T* dy, const T* x, T* dx, std::int64_t n) {
#ifdef MOLM_HAVE_AVX512_KERNELS
  detail::for_activation_chunks(n, [&](std::int64_t begin, std::int64_t len) {
    avx512::silu_backward(dy + begin, x + begin, dx + begin, len);
  });
#else
  (void)dy, (void)x, (void)dx, (void)n;
#endif
}

/// Whether `op` has a vectorised kernel for T on this CPU: f32 GELU always (Eigen's packet erf where
/// the CPU lacks AVX-512); bf16 GELU and f32/bf16 SiLU with AVX-512.
template <class T> bool has_fast_activation(UnaryOp op) {
  if constexpr (std::is_same_v<T, float> || std::is_same_v<T, bfloat16>)
    return (op == UnaryOp::gelu && (std::is_same_v<T, float> || cpu_has_avx512())) ||
           (op == UnaryOp::silu && cpu_has_avx512());
  else
    return false;
}

/// y = op(x) on contiguous arrays when has_fast_activation<T>(op); false (nothing written) otherwise.
template <class T> bool try_fast_activation_forward(UnaryOp op, const T* x, T* y, std::int64_t n) {
  if constexpr (std::is_same_v<T, float> || std::is_same_v<T, bfloat16>) {
    if (!has_fast_activation<T>(op)) return false;
    if (op == UnaryOp::gelu) gelu_forward<T>(x, y, n);
    else silu_forward<T>(x, y, n);
    return true;
  } else {
    return false;
  }
}

/// dx = dy · op'(x) on contiguous arrays when has_fast_activation<T>(op); false otherwise.
template <class T> bool try_fast_activation_backward(UnaryOp op, const T* dy, const T* x, T* dx, std::int64_t n) {
  if constexpr (std::is_same_v<T, float> || std::is_same_v<T, bfloat16>) {
    if (!has_fast_activation<T>(op)) return false;
    if (op == UnaryOp::gelu) gelu_backward<T>(dy, x, dx, n);
    else silu_backward<T>(dy, x, dx, n);
    return true;
  } else {
    return false;
  }
}

/// The f32 entry points (tests/backend/gelu_test.cpp checks them directly).
inline void gelu_forward_f32(const float* x, float* y, std::int64_t n) { gelu_forward<float>(x, y, n); }
inline void gelu_backward_f32(const float* dy, const float* x, float* dx, std::int64_t n) {
  gelu_backward<float>(dy, x, dx, n);
}

}  // namespace molm::backend
