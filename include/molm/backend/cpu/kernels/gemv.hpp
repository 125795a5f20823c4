// Matrix–vector products for decoding: out [M, N] = a [M, K] · Wᵀ (+ bias) for M ≤ 4 rows, W [N, K]
// row-major (a Linear's weight). Decoding one token reads every weight once and does two flops per
// weight, so the product is bound by memory bandwidth, not arithmetic: the kernel streams W row by
// row exactly once, whatever M, with every thread on its own contiguous block of rows.
//
//   W f32 or bf16 (widened to f32 in registers), a converted to one dense f32 copy (M·K, small),
//   sums in f32 with one accumulator register per (row, a-row) pair, bias added, out rounded once to
//   out's dtype (f32 or bf16).
// The sum over k runs in the same order for any thread count (threads split N, never K), so the
// result does not depend on the number of threads. It differs from oneDNN's GEMM in rounding only.
#pragma once

#include "molm/backend/cpu/kernels/avx512.hpp"
#include "molm/tensor/iter.hpp"
#include "molm/tensor/tensor.hpp"

#include <vector>

namespace molm::backend {

namespace gemv_detail {

inline constexpr std::int64_t kMaxRows = 4;  ///< M up to which the GEMV path is taken
inline constexpr std::int64_t kBlock = 64;   ///< weight rows per work item

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

template <int M, class TW, class TO>
MOLM_AVX512 void gemv_block(const float* x, std::int64_t K, const TW* w, std::int64_t ldw, const float* bias,
                            TO* out, std::int64_t N, std::int64_t n0, std::int64_t n1) {
  float sums[4][4];
  for (std::int64_t n = n0; n < n1;) {
    const std::int64_t R = std::min<std::int64_t>(4, n1 - n);
    switch (R) {
      case 4: dot_rows<M, 4>(x, K, w + n * ldw, ldw, sums); break;
      case 3: dot_rows<M, 3>(x, K, w + n * ldw, ldw, sums); break;
      case 2: dot_rows<M, 2>(x, K, w + n * ldw, ldw, sums); break;
      default: dot_rows<M, 1>(x, K, w + n * ldw, ldw, sums); break;
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
  std::vector<float> x(static_cast<std::size_t>(M * K));
  for (std::int64_t m = 0; m < M; ++m)
    for (std::int64_t k = 0; k < K; ++k) {
      const std::int64_t off = a.offset() + m * a.strides()[0] + k * a.strides()[1];
      x[m * K + k] = a.dtype() == DType::f32 ? static_cast<const float*>(a.storage()->data())[off]
                                             : static_cast<float>(static_cast<const bfloat16*>(a.storage()->data())[off]);
    }
  std::vector<float> bias32;
  if (bias.defined()) {
    bias32.resize(static_cast<std::size_t>(N));
    for (std::int64_t n = 0; n < N; ++n) {
      const std::int64_t off = bias.offset() + n * bias.strides()[0];
      bias32[n] = bias.dtype() == DType::f32 ? static_cast<const float*>(bias.storage()->data())[off]
                                             : static_cast<float>(static_cast<const bfloat16*>(bias.storage()->data())[off]);
    }
  }
  const float* pb = bias32.empty() ? nullptr : bias32.data();
  const auto run = [&](auto w_tag, auto out_tag) {
    using TW = typename decltype(w_tag)::type;
    using TO = typename decltype(out_tag)::type;
    const TW* w = static_cast<const TW*>(b.storage()->data()) + b.offset();
    TO* po = out.data<TO>();
    const std::int64_t blocks = (N + gemv_detail::kBlock - 1) / gemv_detail::kBlock;
    molm::detail::parallel_for(blocks, gemv_detail::kBlock * K, [&](std::int64_t blk) {
      const std::int64_t n0 = blk * gemv_detail::kBlock, n1 = std::min(N, n0 + gemv_detail::kBlock);
      switch (M) {
        case 1: gemv_detail::gemv_block<1>(x.data(), K, w, ldw, pb, po, N, n0, n1); break;
        case 2: gemv_detail::gemv_block<2>(x.data(), K, w, ldw, pb, po, N, n0, n1); break;
        case 3: gemv_detail::gemv_block<3>(x.data(), K, w, ldw, pb, po, N, n0, n1); break;
        default: gemv_detail::gemv_block<4>(x.data(), K, w, ldw, pb, po, N, n0, n1); break;
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
