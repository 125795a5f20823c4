// AVX-512 building blocks of the CPU kernels that pick their path at run time: the library is built
// for the baseline x86-64 ISA, and a kernel calls these (compiled with target attributes) only after
// cpu_has_avx512() said yes.
//
//   exp_nonpositive   exp(x) for x ≤ 0, 16 floats: range reduction by ln 2 in two parts, a degree-6
//                     (Cephes-style) polynomial, and VSCALEFPS for the 2ⁿ factor (gradual underflow;
//                     -inf gives +0). Within ~1 ulp of expf.
//   load / store      16 floats from f32 or bf16 memory, with a tail mask; bf16 is widened exactly and
//                     rounded to nearest, ties to even, NaN kept quiet — bit for bit what
//                     molm::bfloat16's conversion does (core/dtype.hpp).
//   convert           an array of one of those types into the other, 16 at a time.
//   hmax / hsum       the largest element / the sum of the 16 lanes.
// Masked (maskz) forms of the intrinsics are used throughout: the unmasked ones start from an
// undefined register, which GCC 12 reports as an uninitialised read in every file that inlines them.
#pragma once

#include "molm/core/dtype.hpp"

#include <algorithm>
#include <cstdint>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define MOLM_HAVE_AVX512_KERNELS 1
#endif

namespace molm::backend {

/// True where the CPU has AVX-512 F, BW and VL (decided once).
inline bool cpu_has_avx512() {
#ifdef MOLM_HAVE_AVX512_KERNELS
  static const bool yes = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                          __builtin_cpu_supports("avx512vl");
  return yes;
#else
  return false;
#endif
}

#ifdef MOLM_HAVE_AVX512_KERNELS
#define MOLM_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl")))

namespace avx512 {

inline constexpr __mmask16 kAll = 0xffff;

/// The mask of the first min(16, n - j) lanes.
MOLM_AVX512 inline __mmask16 tail_mask(std::int64_t j, std::int64_t n) {
  return static_cast<__mmask16>((1u << std::min<std::int64_t>(16, n - j)) - 1);
}

MOLM_AVX512 inline __m512 exp_nonpositive(__m512 x) {
  const __m512 lo = _mm512_set1_ps(-104.0f);  // below: the result underflows to 0 anyway
  x = _mm512_maskz_max_ps(kAll, x, lo);       // also maps -inf to a finite value
  const __m512 n = _mm512_maskz_roundscale_ps(kAll, _mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                              _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);  // ln 2 = 0.693359375 - 2.12194440e-4
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
  __m512 p = _mm512_set1_ps(1.9875691500e-4f);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
  p = _mm512_fmadd_ps(_mm512_mul_ps(p, r), r, _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
  return _mm512_maskz_scalef_ps(kAll, p, n);
}

MOLM_AVX512 inline __m512 load(const float* p, __mmask16 k) { return _mm512_maskz_loadu_ps(k, p); }
MOLM_AVX512 inline __m512 load(const bfloat16* p, __mmask16 k) {
  const __m256i h = _mm256_maskz_loadu_epi16(k, p);
  return _mm512_castsi512_ps(_mm512_maskz_slli_epi32(kAll, _mm512_maskz_cvtepu16_epi32(kAll, h), 16));
}

MOLM_AVX512 inline void store(float* p, __m512 v, __mmask16 k) { _mm512_mask_storeu_ps(p, k, v); }
MOLM_AVX512 inline void store(bfloat16* p, __m512 v, __mmask16 k) {
  const __m512i u = _mm512_castps_si512(v);
  const __m512i high = _mm512_maskz_srli_epi32(kAll, u, 16);
  const __m512i lsb = _mm512_and_si512(high, _mm512_set1_epi32(1));
  const __m512i rounded =
      _mm512_maskz_srli_epi32(kAll, _mm512_add_epi32(u, _mm512_add_epi32(lsb, _mm512_set1_epi32(0x7fff))), 16);
  const __m512i quiet_nan = _mm512_or_si512(high, _mm512_set1_epi32(0x40));
  const __mmask16 nan = _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
  _mm256_mask_storeu_epi16(p, k, _mm512_maskz_cvtepi32_epi16(kAll, _mm512_mask_mov_epi32(rounded, nan, quiet_nan)));
}

/// dst[i] = src[i] converted (f32 ↔ bf16, or a copy), i in [0, n).
template <class S, class D> MOLM_AVX512 void convert(const S* src, D* dst, std::int64_t n) {
  for (std::int64_t j = 0; j < n; j += 16) {
    const __mmask16 k = tail_mask(j, n);
    store(dst + j, load(src + j, k), k);
  }
}

MOLM_AVX512 inline float hmax(__m512 v) {
  alignas(64) float lanes[16];
  _mm512_store_ps(lanes, v);
  float m = lanes[0];
  for (int i = 1; i < 16; ++i) m = std::max(m, lanes[i]);
  return m;
}
MOLM_AVX512 inline float hsum(__m512 v) {
  alignas(64) float lanes[16];
  _mm512_store_ps(lanes, v);
  float s = 0;
  for (float x : lanes) s += x;
  return s;
}

}  // namespace avx512
#endif

}  // namespace molm::backend
