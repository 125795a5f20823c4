// Weight-only int8 ("Q8", llama.cpp's Q8_0 layout with f32 scales): each row of a weight W [N, K]
// is cut into blocks of 32; a block stores d = max|w| / 127 and q = round(w / d) in [-127, 127]
// (stored in a u8 tensor as two's complement), so w ≈ d·q. A decode step then streams one byte per
// weight instead of four (f32) or two (bf16).
//
//   quantize_q8   W (f32/bf16/f16) → q u8 [N, K], scales f32 [N, ceil(K/32)]; the last block of a
//                 row may be shorter
//   linear_q8     out [M, N] = x [M, K] · (d·q)ᵀ (+ bias f32 [N]); x and out f32 or bf16.
//                 M ≤ 4 (decoding): one pass over q, sums in f32 per block, scaled, accumulated in f32
//                 (AVX-512 on the cpu backend; a scalar loop in the reference backend); threads
//                 split N. M > 4 (a prompt): W is dequantised to f32 and multiplied by the backend's
//                 f32 matmul, the result rounded once to out's dtype.
// The activations stay in floating point (llama.cpp also rounds them to int8), so the only error
// is the weights' rounding.
#pragma once

#include "molm/backend/cpu/kernels/avx512.hpp"
#include "molm/backend/cpu/kernels/matmul.hpp"
#include "molm/backend/cpu/reference/matmul.hpp"
#include "molm/tensor/iter.hpp"

#include <cmath>
#include <vector>

namespace molm::backend {

namespace q8_detail {

/// Σ_k x[k]·q[k] over one block of `len` ≤ 32 values, scalar.
inline float block_dot(const float* x, const std::int8_t* q, std::int64_t len) {
  float s = 0;
  for (std::int64_t k = 0; k < len; ++k) s += x[k] * static_cast<float>(q[k]);
  return s;
}

#ifdef MOLM_HAVE_AVX512_KERNELS
/// 32 int8 weights at q (the first `len` of them; 32 = a full block, unmasked loads) as two f32 vectors.
MOLM_AVX512 inline void load_block(const std::int8_t* q, std::int64_t len, __m512& w0, __m512& w1) {
  if (len == kQ8BlockSize) {
    w0 = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(q))));
    w1 = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(q + 16))));
    return;
  }
  const __mmask16 k0 = avx512::tail_mask(0, len), k1 = len > 16 ? avx512::tail_mask(16, len) : 0;
  w0 = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(k0, q)));
  w1 = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(k1, q + 16)));
}

/// out[m][n0 + r] for R ≤ 4 rows at once (independent FMA chains, x loaded once for all R); x is
/// zero-padded to whole blocks, so its loads need no mask.
template <int M, int R>
MOLM_AVX512 inline void rows_avx512(const float* x, std::int64_t Kpad, std::int64_t K, const std::int8_t* q,
                                    const float* scales, std::int64_t blocks, std::int64_t n, float (*sums)[4]) {
  __m512 acc[M][R];
  for (int m = 0; m < M; ++m)
    for (int r = 0; r < R; ++r) acc[m][r] = _mm512_setzero_ps();
  for (std::int64_t b = 0; b < blocks; ++b) {
    const std::int64_t k = b * kQ8BlockSize, len = std::min(kQ8BlockSize, K - k);
    __m512 xv0[M], xv1[M];
    for (int m = 0; m < M; ++m) {
      xv0[m] = _mm512_loadu_ps(x + m * Kpad + k);
      xv1[m] = _mm512_loadu_ps(x + m * Kpad + k + 16);
    }
    for (int r = 0; r < R; ++r) {
      __m512 w0, w1;
      load_block(q + (n + r) * K + k, len, w0, w1);
      const __m512 s = _mm512_set1_ps(scales[(n + r) * blocks + b]);
      for (int m = 0; m < M; ++m)
        acc[m][r] = _mm512_fmadd_ps(_mm512_fmadd_ps(w0, xv0[m], _mm512_mul_ps(w1, xv1[m])), s, acc[m][r]);
    }
  }
  for (int m = 0; m < M; ++m)
    for (int r = 0; r < R; ++r) sums[m][r] = _mm512_reduce_add_ps(acc[m][r]);
}

template <int M>
MOLM_AVX512 void gemv_rows_avx512(const float* x, std::int64_t Kpad, std::int64_t K, const std::int8_t* q,
                                  const float* scales, std::int64_t blocks, const float* bias, float* out,
                                  std::int64_t N, std::int64_t n0, std::int64_t n1) {
  float sums[4][4];
  for (std::int64_t n = n0; n < n1;) {
    const std::int64_t R = std::min<std::int64_t>(4, n1 - n);
    switch (R) {
      case 4: rows_avx512<M, 4>(x, Kpad, K, q, scales, blocks, n, sums); break;
      case 3: rows_avx512<M, 3>(x, Kpad, K, q, scales, blocks, n, sums); break;
      case 2: rows_avx512<M, 2>(x, Kpad, K, q, scales, blocks, n, sums); break;
      default: rows_avx512<M, 1>(x, Kpad, K, q, scales, blocks, n, sums); break;
    }
    for (int m = 0; m < M; ++m)
      for (std::int64_t r = 0; r < R; ++r) out[m * N + n + r] = sums[m][r] + (bias ? bias[n + r] : 0.0f);
    n += R;
  }
}
#endif

}  // namespace q8_detail

/// q [N, K] u8 (int8 bits) and scales [N, ceil(K/32)] f32 of w [N, K]; all dense.
template <class T, class Tag> void quantize_q8(Tag, const Tensor& w, const Tensor& q, const Tensor& scales) {
  const T* pw = w.data<T>();  // dense (the op passes a contiguous weight)
  const std::int64_t N = w.shape()[0], K = w.shape()[1], blocks = scales.shape()[1];
  auto* pq = reinterpret_cast<std::int8_t*>(q.data<std::uint8_t>());
  float* ps = scales.data<float>();
  molm::detail::parallel_for(N, K, [&](std::int64_t n) {
    for (std::int64_t b = 0; b < blocks; ++b) {
      const std::int64_t k0 = b * kQ8BlockSize, len = std::min(kQ8BlockSize, K - k0);
      float amax = 0;
      for (std::int64_t k = 0; k < len; ++k) amax = std::max(amax, std::abs(static_cast<float>(pw[n * K + k0 + k])));
      const float d = amax / 127.0f, id = d > 0 ? 1.0f / d : 0.0f;
      ps[n * blocks + b] = d;
      for (std::int64_t k = 0; k < len; ++k) {
        const float v = std::nearbyint(static_cast<float>(pw[n * K + k0 + k]) * id);
        pq[n * K + k0 + k] = static_cast<std::int8_t>(std::max(-127.0f, std::min(127.0f, v)));
      }
    }
  });
}

/// out [M, N] (x's dtype, dense) = x [M, K] · dequant(q, scales)ᵀ + bias (f32 [N] or undefined).
template <class T, class Tag>
void linear_q8(Tag, const Tensor& x, const Tensor& q, const Tensor& scales, const Tensor& bias, const Tensor& out) {
  const std::int64_t M = x.shape()[0], K = x.shape()[1], N = q.shape()[0], blocks = scales.shape()[1];
  const auto* pq = reinterpret_cast<const std::int8_t*>(q.data<std::uint8_t>());
  const float* ps = scales.data<float>();
  const float* pb = bias.defined() ? bias.data<float>() : nullptr;
  if (M > 4) {  // a prompt: dequantise once to f32, then the backend's f32 matmul (bf16 x widened exactly)
    Tensor w = Tensor::empty({N, K}, DType::f32);
    float* pw = w.data<float>();
    molm::detail::parallel_for(N, K, [&](std::int64_t n) {
      for (std::int64_t k = 0; k < K; ++k) pw[n * K + k] = ps[n * blocks + k / kQ8BlockSize] * static_cast<float>(pq[n * K + k]);
    });
    const bool wide = x.dtype() == DType::f32;
    const Tensor x32 = wide ? x : convert_dense(x, DType::f32);
    const Tensor out32 = wide ? out : Tensor::empty(out.shape(), DType::f32);
    matmul_forward(Tag{}, x32, molm::detail::alias(w, {K, N}, {1, K}, 0), bias, out32);
    if (!wide) {
      const float* src = out32.data<float>();
      T* dst = out.data<T>();
      for (std::int64_t i = 0; i < M * N; ++i) dst[i] = static_cast<T>(src[i]);
    }
    return;
  }
  // x as f32 rows padded with zeros to whole blocks (x is dense: the op passes it so).
  const std::int64_t Kpad = blocks * kQ8BlockSize;
  std::vector<float> xf(static_cast<std::size_t>(M * Kpad), 0.0f);
  const T* px = x.data<T>();
  for (std::int64_t m = 0; m < M; ++m)
    for (std::int64_t k = 0; k < K; ++k) xf[m * Kpad + k] = static_cast<float>(px[m * K + k]);
  std::vector<float> result(static_cast<std::size_t>(M * N));
  constexpr std::int64_t chunk = 64;
  const std::int64_t chunks = (N + chunk - 1) / chunk;
#ifdef MOLM_HAVE_AVX512_KERNELS
  if (std::is_same_v<Tag, cpu_t> && cpu_has_avx512()) {
    molm::detail::parallel_for(chunks, chunk * K, [&](std::int64_t c) {
      const std::int64_t n0 = c * chunk, n1 = std::min(N, n0 + chunk);
      switch (M) {
        case 1: q8_detail::gemv_rows_avx512<1>(xf.data(), Kpad, K, pq, ps, blocks, pb, result.data(), N, n0, n1); break;
        case 2: q8_detail::gemv_rows_avx512<2>(xf.data(), Kpad, K, pq, ps, blocks, pb, result.data(), N, n0, n1); break;
        case 3: q8_detail::gemv_rows_avx512<3>(xf.data(), Kpad, K, pq, ps, blocks, pb, result.data(), N, n0, n1); break;
        default: q8_detail::gemv_rows_avx512<4>(xf.data(), Kpad, K, pq, ps, blocks, pb, result.data(), N, n0, n1); break;
      }
    });
  } else
#endif
  {
    molm::detail::parallel_for(chunks, chunk * K, [&](std::int64_t c) {
      for (std::int64_t n = c * chunk; n < std::min(N, (c + 1) * chunk); ++n)
        for (std::int64_t m = 0; m < M; ++m) {
          float s = 0;
          for (std::int64_t b = 0; b < blocks; ++b) {
            const std::int64_t k0 = b * kQ8BlockSize;
            s += ps[n * blocks + b] * q8_detail::block_dot(xf.data() + m * Kpad + k0, pq + n * K + k0,
                                                           std::min(kQ8BlockSize, K - k0));
          }
          result[m * N + n] = s + (pb ? pb[n] : 0.0f);
        }
    });
  }
  T* po = out.data<T>();
  for (std::int64_t i = 0; i < M * N; ++i) po[i] = static_cast<T>(result[i]);
}

}  // namespace molm::backend
