// Matrix–vector products for decoding: out [M, N] = a [M, K] · Wᵀ (+ bias) for M ≤ 4 rows, W [N, K]
// row-major (a Linear's weight). Decoding one token reads every weight once and does two flops per
// weight, so the product is bound by memory bandwidth, not arithmetic: the kernel streams W row by
// row exactly once, whatever M, with every thread on its own contiguous block of rows.
//
//   W f32 or bf16 (widened to f32 in registers: a bf16 pair is one dword, its halves are the even and
//   odd weight by a shift and a mask, no shuffle), a converted to one dense f32 copy (M·K, small),
//   sums in f32 with one accumulator register per (row, a-row) pair, bias added, out rounded once to
//   out's dtype (f32 or bf16).
// The sum over k runs in the same order for any thread count (threads split N, never K), so the
// result does not depend on the number of threads. It differs from oneDNN's GEMM in rounding only.
#pragma once

#include "molm/backend/cpu/kernels/avx512.hpp"
#include "molm/backend/cpu/kernels/map.hpp"
#include "molm/tensor/iter.hpp"
#include "molm/tensor/tensor.hpp"

#include <optional>
#include <type_traits>
#include <vector>

namespace molm::backend {

namespace gemv_detail {

inline constexpr std::int64_t kMaxRows = 4;  ///< M up to which the GEMV path is taken
inline constexpr std::int64_t kBlock = 64;   ///< weight rows per work item
inline constexpr std::int64_t kPrefetchBytes = 1024;  ///< how far ahead of each row the bf16 loop prefetches (26 → 29 GB/s here; f32 gains nothing)

#ifdef MOLM_HAVE_AVX512_KERNELS
/// sums[m][r] = Σ_k x[m][k] · w[n0 + r][k] for r < R (R ≤ 4 rows of W at once, for independent
/// FMA chains), M rows of x.
template <int M, int R, class TW>
MOLM_AVX512 inline void dot_rows(const float* x, std::int64_t K, const TW* w, std::int64_t ldw, float (*sums)[4]) {
  __m512 acc[M][R];
  for (int m = 0; m < M; ++m)
    for (int r = 0; r < R; ++r) acc[m][r] = _mm512_setzero_ps();
  for (std::int64_t k = 0; k < K; k += 16) {
    const __mmask16 mask = avx512::tail_mask(k, K);
    __m512 wv[R];
    for (int r = 0; r < R; ++r) wv[r] = avx512::load(w + r * ldw + k, mask);
    for (int m = 0; m < M; ++m) {
      const __m512 xv = avx512::load(x + m * K + k, mask);
      for (int r = 0; r < R; ++r) acc[m][r] = _mm512_fmadd_ps(xv, wv[r], acc[m][r]);
    }
  }
  for (int m = 0; m < M; ++m)
    for (int r = 0; r < R; ++r) sums[m][r] = _mm512_reduce_add_ps(acc[m][r]);
}

/// The bf16 form of dot_rows without widening shuffles: 32 bf16 weights load as 16 dwords; the
/// dword shifted left by 16 is the even weight as f32, the dword with its low half cleared the odd
/// one. x is given split the same way (xe: x[32c + 2i], xo: x[32c + 2i + 1], 16 each per chunk c).
/// Covers the first K32 = 32·⌊K/32⌋ columns; the caller adds the rest.
template <int M, int R>
MOLM_AVX512 inline void dot_rows_bf16(const float* xe, const float* xo, std::int64_t K32, std::int64_t Kx,
                                      const bfloat16* w, std::int64_t ldw, float (*sums)[4]) {
  __m512 acc[M][R];
  for (int m = 0; m < M; ++m)
    for (int r = 0; r < R; ++r) acc[m][r] = _mm512_setzero_ps();
  const __m512i high = _mm512_set1_epi32(static_cast<int>(0xffff0000u));
  for (std::int64_t k = 0; k < K32; k += 32) {
    __m512 we[R], wo[R];
    for (int r = 0; r < R; ++r) {
      _mm_prefetch(reinterpret_cast<const char*>(w + r * ldw + k) + kPrefetchBytes, _MM_HINT_T0);
      const __m512i v = _mm512_loadu_si512(reinterpret_cast<const void*>(w + r * ldw + k));
      we[r] = _mm512_castsi512_ps(_mm512_slli_epi32(v, 16));
      wo[r] = _mm512_castsi512_ps(_mm512_and_si512(v, high));
    }
    for (int m = 0; m < M; ++m) {
      const __m512 e = _mm512_loadu_ps(xe + m * Kx + k / 2), o = _mm512_loadu_ps(xo + m * Kx + k / 2);
      for (int r = 0; r < R; ++r) acc[m][r] = _mm512_fmadd_ps(o, wo[r], _mm512_fmadd_ps(e, we[r], acc[m][r]));
    }
  }
  for (int m = 0; m < M; ++m)
    for (int r = 0; r < R; ++r) sums[m][r] = _mm512_reduce_add_ps(acc[m][r]);
}

/// x as the split rows dot_rows_bf16 reads (see there), for M rows of K.
struct SplitX {
  std::vector<float> even, odd;
  std::int64_t K32 = 0, Kx = 0;  ///< columns covered by whole chunks of 32; floats per row of each half
  SplitX(const float* x, std::int64_t M, std::int64_t K) : K32(K / 32 * 32), Kx(K / 32 * 16) {
    even.resize(static_cast<std::size_t>(M * Kx));
    odd.resize(static_cast<std::size_t>(M * Kx));
    for (std::int64_t m = 0; m < M; ++m)
      for (std::int64_t i = 0; i < Kx; ++i) {
        even[m * Kx + i] = x[m * K + 2 * i];
        odd[m * Kx + i] = x[m * K + 2 * i + 1];
      }
  }
};

template <int M, class TW, class TO>
MOLM_AVX512 void gemv_block(const float* x, const SplitX* split, std::int64_t K, const TW* w, std::int64_t ldw,
                            const float* bias, TO* out, std::int64_t N, std::int64_t n0, std::int64_t n1) {
  float sums[4][4];
  for (std::int64_t n = n0; n < n1;) {
    const std::int64_t R = std::min<std::int64_t>(4, n1 - n);
    if constexpr (std::is_same_v<TW, bfloat16>) {
      const float *xe = split->even.data(), *xo = split->odd.data();
      switch (R) {
        case 4: dot_rows_bf16<M, 4>(xe, xo, split->K32, split->Kx, w + n * ldw, ldw, sums); break;
        case 3: dot_rows_bf16<M, 3>(xe, xo, split->K32, split->Kx, w + n * ldw, ldw, sums); break;
        case 2: dot_rows_bf16<M, 2>(xe, xo, split->K32, split->Kx, w + n * ldw, ldw, sums); break;
        default: dot_rows_bf16<M, 1>(xe, xo, split->K32, split->Kx, w + n * ldw, ldw, sums); break;
      }
      for (int m = 0; m < M; ++m)  // the columns after the last whole chunk of 32
        for (std::int64_t r = 0; r < R; ++r)
          for (std::int64_t k = split->K32; k < K; ++k)
            sums[m][r] += x[m * K + k] * static_cast<float>(w[(n + r) * ldw + k]);
    } else {
      switch (R) {
        case 4: dot_rows<M, 4>(x, K, w + n * ldw, ldw, sums); break;
        case 3: dot_rows<M, 3>(x, K, w + n * ldw, ldw, sums); break;
        case 2: dot_rows<M, 2>(x, K, w + n * ldw, ldw, sums); break;
        default: dot_rows<M, 1>(x, K, w + n * ldw, ldw, sums); break;
      }
    }
    for (int m = 0; m < M; ++m)
      for (std::int64_t r = 0; r < R; ++r) {
        const float v = sums[m][r] + (bias ? bias[n + r] : 0.0f);
        out[m * N + n + r] = static_cast<TO>(v);
      }
    n += R;
  }
}
#endif

}  // namespace gemv_detail

/// Whether gemv() takes out = a·b (+ bias) for these operands: a [M, K] with M ≤ 4, b [K, N] a
/// transposed row-major weight (b's column n is W's contiguous row n), out [M, N] dense, f32 or
/// bf16 with out in a's dtype or f32, bias undefined or [N] f32 / a's dtype, on an AVX-512 CPU.
inline bool gemv_applies(const Tensor& a, const Tensor& b, const Tensor& bias, const Tensor& out) {
#ifdef MOLM_HAVE_AVX512_KERNELS
  if (!cpu_has_avx512() || a.dim() != 2 || b.dim() != 2 || out.dim() != 2) return false;
  if (a.shape()[0] > gemv_detail::kMaxRows || a.shape()[0] < 1 || a.shape()[1] < 1) return false;
  if (a.dtype() != b.dtype() || (a.dtype() != DType::f32 && a.dtype() != DType::bf16)) return false;
  if (out.dtype() != a.dtype() && out.dtype() != DType::f32) return false;
  if (b.strides()[0] != 1 || b.strides()[1] < b.shape()[0]) return false;
  if (!out.is_contiguous()) return false;
  if (bias.defined() && (bias.dim() != 1 || (bias.dtype() != DType::f32 && bias.dtype() != a.dtype()))) return false;
  return true;
#else
  (void)a, (void)b, (void)bias, (void)out;
  return false;
#endif
}

/// out = a·b (+ bias) where gemv_applies.
inline void gemv(const Tensor& a, const Tensor& b, const Tensor& bias, const Tensor& out) {
#ifdef MOLM_HAVE_AVX512_KERNELS
  const std::int64_t M = a.shape()[0], K = a.shape()[1], N = b.shape()[1], ldw = b.strides()[1];
  // a as dense f32 rows (a few KiB), bias as f32.
  const Tensor x32 = convert_dense(a, DType::f32);
  const Tensor bias32 = bias.defined() ? convert_dense(bias, DType::f32) : Tensor();
  const float* x = x32.data<float>();
  const float* pb = bias32.defined() ? bias32.data<float>() : nullptr;
  const auto run = [&](auto w_tag, auto out_tag) {
    using TW = typename decltype(w_tag)::type;
    using TO = typename decltype(out_tag)::type;
    const TW* w = static_cast<const TW*>(b.storage()->data()) + b.offset();
    TO* po = out.data<TO>();
    std::optional<gemv_detail::SplitX> split;
    if constexpr (std::is_same_v<TW, bfloat16>) split.emplace(x, M, K);
    const gemv_detail::SplitX* sp = split ? &*split : nullptr;
    const std::int64_t blocks = (N + gemv_detail::kBlock - 1) / gemv_detail::kBlock;
    molm::detail::parallel_for(blocks, gemv_detail::kBlock * K, [&](std::int64_t blk) {
      const std::int64_t n0 = blk * gemv_detail::kBlock, n1 = std::min(N, n0 + gemv_detail::kBlock);
      switch (M) {
        case 1: gemv_detail::gemv_block<1>(x, sp, K, w, ldw, pb, po, N, n0, n1); break;
        case 2: gemv_detail::gemv_block<2>(x, sp, K, w, ldw, pb, po, N, n0, n1); break;
        case 3: gemv_detail::gemv_block<3>(x, sp, K, w, ldw, pb, po, N, n0, n1); break;
        default: gemv_detail::gemv_block<4>(x, sp, K, w, ldw, pb, po, N, n0, n1); break;
      }
    });
  };
  struct f32_tag { using type = float; };
  struct bf16_tag { using type = bfloat16; };
  if (a.dtype() == DType::f32) run(f32_tag{}, f32_tag{});
  else if (out.dtype() == DType::f32) run(bf16_tag{}, f32_tag{});
  else run(bf16_tag{}, bf16_tag{});
#else
  (void)a, (void)b, (void)bias, (void)out;
  MOLM_THROW("gemv", "built without AVX-512 kernels");
#endif
}

}  // namespace molm::backend
