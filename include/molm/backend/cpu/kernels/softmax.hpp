// Optimised softmax / log_softmax over the last dimension, with an optional additive mask.
// Rows run in parallel; each row is first gathered (x + mask, converted to the accumulation type)
// into a per-thread buffer, whatever the input's strides and dtype, and then goes through
// softmax_row (kernels/softmax_row.hpp), the row loop attention uses too: max, exp, sum and the
// scaling in place, 16 floats at a time with its own exp where the CPU has AVX-512. The maths and
// the fully-masked-row convention are in ops/softmax.hpp.
#pragma once

#include "molm/backend/cpu/kernels/softmax_row.hpp"
#include "molm/backend/cpu/rows.hpp"
#include "molm/core/device.hpp"

#include <cmath>
#include <limits>
#include <vector>

namespace molm::backend {

/// y (dense, x's shape) = softmax(x + mask) or log_softmax(x + mask) along the last dim.
/// `mask` may be undefined; otherwise it broadcasts to x and has x's dtype.
template <class T>
void softmax_forward(cpu_t, const Tensor& x, const Tensor& mask, const Tensor& y, bool log) {
  using A = acc_t<T>;
  const Shape& shape = x.shape();
  const std::int64_t C = shape.back();
  const RowLayout lx = row_layout(x, shape);
  const RowLayout lm = mask.defined() ? row_layout(mask, shape) : RowLayout{};
  const T* px = x.data<T>();
  const T* pm = mask.defined() ? mask.data<T>() : nullptr;
  T* py = y.data<T>();
  const std::int64_t R = lx.rows();
  const int threads = row_threads(R, C);
  std::vector<std::vector<A>> scratch(static_cast<std::size_t>(threads), std::vector<A>(static_cast<std::size_t>(C)));

  run_rows(R, threads, [&](std::int64_t r, int t) {
    A* z = scratch[static_cast<std::size_t>(t)].data();
    load_row(z, px + lx.row_offset(r), lx.inner_stride, C);
    if (pm) {
      const T* mr = pm + lm.row_offset(r);
      const std::int64_t sm = lm.inner_stride;
      for (std::int64_t j = 0; j < C; ++j) z[j] += static_cast<A>(mr[j * sm]);
    }
    softmax_row(z, C, log);  // NaN rows, fully masked rows (0, log -inf): see kernels/softmax_row.hpp
    T* yr = py + r * C;
    for (std::int64_t j = 0; j < C; ++j) yr[j] = static_cast<T>(z[j]);
  });
}

/// dx (dense) from the saved output y (dense) and dy (any strides, y's shape):
///   softmax:      dx = y · (dy − Σ dy·y)
///   log_softmax:  dx = dy − exp(y) · Σ dy, with dx = 0 (and no contribution to Σ) where y = −inf.
template <class T>
void softmax_backward(cpu_t, const Tensor& y, const Tensor& dy, const Tensor& dx, bool log) {
  using A = acc_t<T>;
  const Shape& shape = y.shape();
  const std::int64_t C = shape.back();
  const RowLayout ld = row_layout(dy, shape);
  const T* py = y.data<T>();
  const T* pd = dy.data<T>();
  T* pdx = dx.data<T>();
  const std::int64_t R = ld.rows();
  const int threads = row_threads(R, C);
  std::vector<std::vector<A>> scratch(static_cast<std::size_t>(threads), std::vector<A>(static_cast<std::size_t>(C)));

  run_rows(R, threads, [&](std::int64_t r, int t) {
    A* g = scratch[static_cast<std::size_t>(t)].data();
    const T* dr = pd + ld.row_offset(r);
    const std::int64_t sd = ld.inner_stride;
    for (std::int64_t j = 0; j < C; ++j) g[j] = static_cast<A>(dr[j * sd]);
    const T* yr = py + r * C;
    T* out = pdx + r * C;
    A s = 0;
    if (log) {
      constexpr A ninf = -std::numeric_limits<A>::infinity();
      for (std::int64_t j = 0; j < C; ++j)
        if (static_cast<A>(yr[j]) != ninf) s += g[j];
      for (std::int64_t j = 0; j < C; ++j) {
        const A v = static_cast<A>(yr[j]);
        out[j] = static_cast<T>(v == ninf ? A(0) : g[j] - std::exp(v) * s);
      }
    } else {
#pragma omp simd reduction(+ : s)
      for (std::int64_t j = 0; j < C; ++j) s += g[j] * static_cast<A>(yr[j]);
      for (std::int64_t j = 0; j < C; ++j) out[j] = static_cast<T>(static_cast<A>(yr[j]) * (g[j] - s));
    }
  });
}

}  // namespace molm::backend
