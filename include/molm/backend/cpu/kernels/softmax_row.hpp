// Softmax or log-softmax of one contiguous row, in place: the one row loop of the softmax op
// (kernels/softmax.hpp runs it on each gathered row of x + mask, in the accumulation type) and of
// attention (kernels/attention.hpp, the probabilities of each row of logits).
//
//   softmax:      y_j = exp(z_j − m) · (1 / Σ_k exp(z_k − m)),   m = max_k z_k
//   log_softmax:  y_j = z_j − (m + log Σ_k exp(z_k − m))
//
// -inf entries (masked keys) become exactly 0 (log: stay -inf); a row of only -inf becomes all zeros
// (log: all -inf), the fully-masked-row convention of ops/softmax.hpp; a NaN or a +inf anywhere makes
// the whole row NaN (and nothing else), as exp(z − m) would.
//
// Why a kernel of its own: attention at Uni-Mol's shapes takes a softmax over every one of the
// B·H·N·N logits (318 M per forward pass at 64 molecules × 72 tokens), and libm's expf, one call
// per element, was 17% of that forward pass. Where the CPU has AVX-512 (checked at run time; the
// library is built for the baseline x86-64 ISA), float rows are done 16 lanes at a time with a
// Cephes-style exp (kernels/avx512.hpp). Double rows keep libm's exp. softmax_row_test
// holds both float paths to 2e-5 of a double softmax and to 1e-6 of each other (measured: 5e-7).
#pragma once

#include "molm/backend/cpu/kernels/avx512.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>


namespace molm::backend {

namespace detail {
/// The row's maximum; NaN where any entry is NaN, so that it spreads to the whole row instead of
/// being skipped by the comparison.
template <class A> A row_max(const A* s, std::int64_t n) {
  A m = -std::numeric_limits<A>::infinity();
  for (std::int64_t j = 0; j < n; ++j)
    if (s[j] > m || std::isnan(s[j])) m = s[j];
  return m;
}

/// The rows whose maximum decides them: all -inf (fully masked: 0, log -inf) and NaN or +inf
/// (NaN). Returns false when the row needs the exp pass (m finite).
template <class A> bool finish_special_row(A* s, std::int64_t n, A m, bool log) {
  constexpr A inf = std::numeric_limits<A>::infinity();
  if (m == -inf) {
    std::fill(s, s + n, log ? -inf : A(0));
    return true;
  }
  if (!(m < inf)) {
    std::fill(s, s + n, std::numeric_limits<A>::quiet_NaN());
    return true;
  }
  return false;
}
}  // namespace detail

/// The portable path: libm's exp element by element (float, and double wherever A is double).
template <class A> void softmax_row_scalar(A* s, std::int64_t n, bool log) {
  const A m = detail::row_max(s, n);
  if (detail::finish_special_row(s, n, m, log)) return;
  A total = 0;
  if (log) {
    for (std::int64_t j = 0; j < n; ++j) total += std::exp(s[j] - m);  // exp(-inf) = 0 for masked entries
    const A shift = m + std::log(total);
    for (std::int64_t j = 0; j < n; ++j) s[j] -= shift;
    return;
  }
  for (std::int64_t j = 0; j < n; ++j) {
    s[j] = std::exp(s[j] - m);
    total += s[j];
  }
  const A inv = A(1) / total;
  for (std::int64_t j = 0; j < n; ++j) s[j] *= inv;
}

template <class A> void softmax_row_scalar(A* s, std::int64_t n) { softmax_row_scalar(s, n, false); }

#ifdef MOLM_HAVE_AVX512_KERNELS
/// The AVX-512 path; call only where cpu_has_avx512().
MOLM_AVX512 inline void softmax_row_avx512(float* s, std::int64_t n, bool log) {
  constexpr float neg_inf = -std::numeric_limits<float>::infinity();
  const auto tail = [&](std::int64_t j) { return static_cast<__mmask16>((1u << std::min<std::int64_t>(16, n - j)) - 1); };
  __m512 vmax = _mm512_set1_ps(neg_inf);
  __mmask16 nan = 0;
  for (std::int64_t j = 0; j < n; j += 16) {
    const __m512 x = _mm512_mask_loadu_ps(_mm512_set1_ps(neg_inf), tail(j), s + j);
    vmax = _mm512_maskz_max_ps(avx512::kAll, vmax, x);
    nan = static_cast<__mmask16>(nan | _mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q));
  }
  const float m = nan ? std::numeric_limits<float>::quiet_NaN() : avx512::hmax(vmax);
  if (detail::finish_special_row(s, n, m, log)) return;
  // From here m is finite and no entry is NaN or +inf: x − m ≤ 0, as the exp needs.
  const __m512 vm = _mm512_set1_ps(m), vneg_inf = _mm512_set1_ps(neg_inf);
  __m512 vsum = _mm512_setzero_ps();
  for (std::int64_t j = 0; j < n; j += 16) {
    const __mmask16 k = tail(j);
    const __m512 x = _mm512_maskz_loadu_ps(k, s + j);
    const __mmask16 finite = _mm512_mask_cmp_ps_mask(k, x, vneg_inf, _CMP_NEQ_UQ);
    const __m512 e = _mm512_maskz_mov_ps(finite, avx512::exp_nonpositive(_mm512_sub_ps(x, vm)));
    vsum = _mm512_add_ps(vsum, e);
    if (!log) _mm512_mask_storeu_ps(s + j, k, e);
  }
  const float total = avx512::hsum(vsum);
  if (log) {
    const __m512 shift = _mm512_set1_ps(m + std::log(total));
    for (std::int64_t j = 0; j < n; j += 16) {
      const __mmask16 k = tail(j);
      _mm512_mask_storeu_ps(s + j, k, _mm512_sub_ps(_mm512_maskz_loadu_ps(k, s + j), shift));
    }
    return;
  }
  const __m512 inv = _mm512_set1_ps(1.0f / total);
  for (std::int64_t j = 0; j < n; j += 16) {
    const __mmask16 k = tail(j);
    _mm512_mask_storeu_ps(s + j, k, _mm512_mul_ps(_mm512_maskz_loadu_ps(k, s + j), inv));
  }
}

MOLM_AVX512 inline void softmax_row_avx512(float* s, std::int64_t n) {
  softmax_row_avx512(s, n, false);
}
#endif

/// True where softmax_row takes the AVX-512 path (decided once, from the CPU).
inline bool softmax_row_uses_avx512() { return cpu_has_avx512(); }

/// Softmax (log: log-softmax) of s[0, n) in place: the AVX-512 path where the CPU has it, else the
/// scalar one.
inline void softmax_row(float* s, std::int64_t n, bool log) {
#ifdef MOLM_HAVE_AVX512_KERNELS
  if (softmax_row_uses_avx512()) return softmax_row_avx512(s, n, log);
#endif
  softmax_row_scalar(s, n, log);
}

inline void softmax_row(float* s, std::int64_t n) { softmax_row(s, n, false); }

/// Other accumulation types (double) keep libm's exp.
template <class A> void softmax_row(A* s, std::int64_t n, bool log) { softmax_row_scalar(s, n, log); }
template <class A> void softmax_row(A* s, std::int64_t n) { softmax_row_scalar(s, n, false); }

}  // namespace molm::backend
