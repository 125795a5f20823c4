// Row geometry for the ops that work along the last dimension (softmax, layer_norm, rms_norm,
// cross_entropy). A tensor of shape [..., C] is R = numel / C rows of C elements; an operand that
// broadcasts to that shape (a mask [B, 1, 1, N] against scores [B, H, N, N], a weight [C]) is
// described by the offset of each of its rows and its stride inside a row, 0 where it is broadcast.
// Any strides work, so kernels never need a contiguous copy of a transposed or sliced input.
//
// run_rows is the optimised kernels' row loop: rows split statically over OpenMP threads, each
// thread told its index so it can use its own scratch buffer or partial sums (summed afterwards in
// thread order, which keeps results independent of scheduling).
#pragma once

#include "molm/backend/cpu/kernels/avx512.hpp"
#include "molm/core/threads.hpp"
#include "molm/tensor/iter.hpp"

#include <omp.h>

#include <algorithm>
#include <cstdint>
#include <type_traits>

namespace molm::backend {

/// Where the rows of one operand lie, once it is broadcast to the op's shape [..., C].
struct RowLayout {
  Shape outer_shape;              ///< the op's leading dimensions (all but the last)
  Shape outer_strides;            ///< this operand's strides over them, 0 on broadcast dims
  std::int64_t inner_stride = 0;  ///< stride along the last dimension, 0 when broadcast

  std::int64_t rows() const { return outer_shape.numel(); }

  /// Element offset of row `r` (rows counted in row-major order of the leading dimensions).
  std::int64_t row_offset(std::int64_t r) const {
    std::int64_t off = 0;
    for (int d = outer_shape.size() - 1; d >= 0; --d) {
      off += (r % outer_shape[d]) * outer_strides[d];
      r /= outer_shape[d];
    }
    return off;
  }
};

/// The rows of `t` broadcast to `shape` (at least 1-d; t's shape must broadcast to it).
inline RowLayout row_layout(const Tensor& t, const Shape& shape) {
  const Shape s = molm::detail::broadcast_strides(t, shape);
  RowLayout l;
  for (int d = 0; d + 1 < shape.size(); ++d) {
    l.outer_shape.push_back(shape[d]);
    l.outer_strides.push_back(s[d]);
  }
  l.inner_stride = s[shape.size() - 1];
  return l;
}

/// Threads worth using for `rows` rows of `cols` elements each: one below ~32k elements of work.
inline int row_threads(std::int64_t rows, std::int64_t cols) {
  if (rows * std::max<std::int64_t>(cols, 1) < 32768) return 1;
  return static_cast<int>(std::clamp<std::int64_t>(rows, 1, num_threads()));
}

/// dst[0, n) = src[0, n) converted, both contiguous. bf16 ↔ f32 runs 16 at a time where the CPU has
/// AVX-512 (kernels/avx512.hpp; the same bits as the scalar conversion). Only loops between built-in
/// types are marked `omp simd`: the 16-bit float conversions branch, and Clang warns that it cannot
/// vectorise them.
template <class D, class S> void convert_row(D* dst, const S* src, std::int64_t n) {
#ifdef MOLM_HAVE_AVX512_KERNELS
  if constexpr ((std::is_same_v<S, bfloat16> && std::is_same_v<D, float>) ||
                (std::is_same_v<S, float> && std::is_same_v<D, bfloat16>))
    if (cpu_has_avx512()) return avx512::convert(src, dst, n);
#endif
  if constexpr (std::is_arithmetic_v<S> && std::is_arithmetic_v<D>) {
#pragma omp simd
    for (std::int64_t j = 0; j < n; ++j) dst[j] = static_cast<D>(src[j]);
  } else {
    for (std::int64_t j = 0; j < n; ++j) dst[j] = static_cast<D>(src[j]);
  }
}

/// Copy n elements of a row (stride in elements) into a dense scratch buffer of the accumulation type.
template <class A, class T> void load_row(A* dst, const T* src, std::int64_t stride, std::int64_t n) {
  if (stride == 1) return convert_row(dst, src, n);
  for (std::int64_t j = 0; j < n; ++j) dst[j] = static_cast<A>(src[j * stride]);
}

/// body(r, thread) for every row r in [0, rows), on `threads` threads with a static split;
/// `thread` is in [0, threads).
template <class F> void run_rows(std::int64_t rows, int threads, F&& body) {
  if (threads <= 1) {
    for (std::int64_t r = 0; r < rows; ++r) body(r, 0);
    return;
  }
#pragma omp parallel num_threads(threads)
  {
    const int t = omp_get_thread_num(), nt = omp_get_num_threads();
    const std::int64_t begin = rows * t / nt, end = rows * (t + 1) / nt;
    for (std::int64_t r = begin; r < end; ++r) body(r, t);
  }
}

#ifdef MOLM_HAVE_AVX512_KERNELS
namespace detail {
/// body(r, t) inlined into an AVX-512 function: its `#pragma omp simd` loops get 16-float vectors.
template <class F>
__attribute__((target("avx512f,avx512bw,avx512vl"), flatten)) void call_avx512(F& body, std::int64_t r, int t) {
  body(r, t);
}
}  // namespace detail
#endif

/// run_rows with `body` compiled twice: as written (baseline x86-64, the library's ISA) and inlined
/// into an AVX-512 function, which runs where the CPU has AVX-512. A row body written as plain loops
/// with `#pragma omp simd` so gets the wide vectors without intrinsics.
template <class F> void run_rows_vectorised(std::int64_t rows, int threads, F&& body) {
#ifdef MOLM_HAVE_AVX512_KERNELS
  if (cpu_has_avx512()) {
    run_rows(rows, threads, [&](std::int64_t r, int t) { detail::call_avx512(body, r, t); });
    return;
  }
#endif
  run_rows(rows, threads, body);
}

}  // namespace molm::backend
