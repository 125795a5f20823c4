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

inline float to_float(const Tensor& t, std::int64_t i) {
  switch (t.dtype()) {
    case DType::f32: return t.data<float>()[i];
    case DType::bf16: return static_cast<float>(t.data<bfloat16>()[i]);
    case DType::f16: return static_cast<float>(t.data<float16>()[i]);
    default: MOLM_THROW("quantize_q8", "cannot quantize {}", name(t.dtype()));
  }
}

/// Σ_k x[k]·q[k] over one block of `len` ≤ 32 values, scalar.
inline float block_dot(const float* x, const std::int8_t* q, std::int64_t len) {
  float s = 0;
  for (std::int64_t k = 0; k < len; ++k) s += x[k] * static_cast<float>(q[k]);
  return s;
}

#ifdef MOLM_HAVE_AVX512_KERNELS
template <int M>
MOLM_AVX512 void gemv_rows_avx512(const float* x, std::int64_t K, const std::int8_t* q, const float* scales,
                                  std::int64_t blocks, const float* bias, float* out, std::int64_t N, std::int64_t n0,
                                  std::int64_t n1) {
  for (std::int64_t n = n0; n < n1; ++n) {
    const std::int8_t* row = q + n * K;
    const float* d = scales + n * blocks;
    __m512 acc[M];
    for (int m = 0; m < M; ++m) acc[m] = _mm512_setzero_ps();
    for (std::int64_t b = 0; b < blocks; ++b) {
      const std::int64_t k = b * kQ8BlockSize;
      // (tail_mask needs j < n: the second half of a short last block may be empty)
      const __mmask16 k0 = avx512::tail_mask(k, K), k1 = k + 16 < K ? avx512::tail_mask(k + 16, K) : 0;
      const __m512 w0 = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(k0, row + k)));
      const __m512 w1 = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(k1, row + k + 16)));
      const __m512 s = _mm512_set1_ps(d[b]);
      for (int m = 0; m < M; ++m) {
        const __m512 p = _mm512_fmadd_ps(w0, _mm512_maskz_loadu_ps(k0, x + m * K + k),
                                         _mm512_mul_ps(w1, _mm512_maskz_loadu_ps(k1, x + m * K + k + 16)));
        acc[m] = _mm512_fmadd_ps(p, s, acc[m]);
      }
    }
    for (int m = 0; m < M; ++m) out[m * N + n] = _mm512_reduce_add_ps(acc[m]) + (bias ? bias[n] : 0.0f);
  }
}
#endif

}  // namespace q8_detail

/// q [N, K] u8 (int8 bits) and scales [N, ceil(K/32)] f32 of w [N, K]; all dense.
template <class Tag> void quantize_q8(Tag, const Tensor& w, const Tensor& q, const Tensor& scales) {
  const Tensor& wd = w;  // dense (the op passes a contiguous weight)
  const std::int64_t N = w.shape()[0], K = w.shape()[1], blocks = scales.shape()[1];
  auto* pq = reinterpret_cast<std::int8_t*>(q.data<std::uint8_t>());
  float* ps = scales.data<float>();
  molm::detail::parallel_for(N, K, [&](std::int64_t n) {
    for (std::int64_t b = 0; b < blocks; ++b) {
      const std::int64_t k0 = b * kQ8BlockSize, len = std::min(kQ8BlockSize, K - k0);
      float amax = 0;
      for (std::int64_t k = 0; k < len; ++k) amax = std::max(amax, std::abs(q8_detail::to_float(wd, n * K + k0 + k)));
      const float d = amax / 127.0f, id = d > 0 ? 1.0f / d : 0.0f;
      ps[n * blocks + b] = d;
      for (std::int64_t k = 0; k < len; ++k) {
        const float v = std::nearbyint(q8_detail::to_float(wd, n * K + k0 + k) * id);
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
    const Tensor x32 = wide ? x : matmul_detail::convert_dense(x, DType::f32);
    const Tensor out32 = wide ? out : Tensor::empty(out.shape(), DType::f32);
    matmul_forward(Tag{}, x32, molm::detail::alias(w, {K, N}, {1, K}, 0), bias, out32);
    if (!wide) {
      const float* src = out32.data<float>();
      T* dst = out.data<T>();
      for (std::int64_t i = 0; i < M * N; ++i) dst[i] = static_cast<T>(src[i]);
    }
    return;
  }
  std::vector<float> xf(static_cast<std::size_t>(M * K));  // x is dense (the op passes it so)
  for (std::int64_t i = 0; i < M * K; ++i) xf[i] = static_cast<float>(x.data<T>()[i]);
  std::vector<float> result(static_cast<std::size_t>(M * N));
  constexpr std::int64_t chunk = 64;
  const std::int64_t chunks = (N + chunk - 1) / chunk;
#ifdef MOLM_HAVE_AVX512_KERNELS
  if (std::is_same_v<Tag, cpu_t> && cpu_has_avx512()) {
    molm::detail::parallel_for(chunks, chunk * K, [&](std::int64_t c) {
      const std::int64_t n0 = c * chunk, n1 = std::min(N, n0 + chunk);
      switch (M) {
        case 1: q8_detail::gemv_rows_avx512<1>(xf.data(), K, pq, ps, blocks, pb, result.data(), N, n0, n1); break;
        case 2: q8_detail::gemv_rows_avx512<2>(xf.data(), K, pq, ps, blocks, pb, result.data(), N, n0, n1); break;
        case 3: q8_detail::gemv_rows_avx512<3>(xf.data(), K, pq, ps, blocks, pb, result.data(), N, n0, n1); break;
        default: q8_detail::gemv_rows_avx512<4>(xf.data(), K, pq, ps, blocks, pb, result.data(), N, n0, n1); break;
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
            s += ps[n * blocks + b] * q8_detail::block_dot(xf.data() + m * K + k0, pq + n * K + k0,
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
