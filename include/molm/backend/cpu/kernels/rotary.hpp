// Optimised rotary embedding: OpenMP over the rows (every index but the last), and per row two
// plain loops over the halves, which the compiler vectorises when the last dimension is dense.
// Same maths as backend/cpu/reference/rotary.hpp.
#pragma once

#include "molm/core/device.hpp"
#include "molm/tensor/iter.hpp"

#include <array>

namespace molm::backend {
namespace rotary_kernel {

/// Starting offsets of row `row` (a linear index over shape[0..rank-2]) in each of K operands.
template <int K>
std::array<std::int64_t, K> row_offsets(std::int64_t row, const Shape& shape, const std::array<Shape, K>& strides) {
  std::array<std::int64_t, K> off{};
  for (int d = shape.size() - 2; d >= 0; --d) {
    const std::int64_t i = row % shape[d];
    row /= shape[d];
    for (int k = 0; k < K; ++k) off[k] += i * strides[k][d];
  }
  return off;
}

/// Every row of `out` from the same row of `in`, by the forward or (Backward) the backward formula.
template <bool Backward, class T>
void rotary_rows(const Tensor& in, const Tensor& cos, const Tensor& sin, const Tensor& out) {
  using A = acc_t<T>;
  const Shape& shape = in.shape();
  const int last = shape.size() - 1;
  const std::int64_t D = shape[last], h = D / 2, rows = D ? in.numel() / D : 0;
  const std::array<Shape, 4> st{in.strides(), molm::detail::broadcast_strides(cos, shape),
                                molm::detail::broadcast_strides(sin, shape), out.strides()};
  const std::int64_t si = st[0][last], sc = st[1][last], ss = st[2][last], so = st[3][last];
  const T *pin = in.data<T>(), *pc = cos.data<T>(), *ps = sin.data<T>();
  T* pout = out.data<T>();
  molm::detail::parallel_for(rows, D * 4, [&](std::int64_t r) {
    const auto off = row_offsets<4>(r, shape, st);
    const T *x = pin + off[0], *c = pc + off[1], *s = ps + off[2];
    T* o = pout + off[3];
    auto X = [&](std::int64_t d) { return static_cast<A>(x[d * si]); };
    auto C = [&](std::int64_t d) { return static_cast<A>(c[d * sc]); };
    auto S = [&](std::int64_t d) { return static_cast<A>(s[d * ss]); };
    if constexpr (!Backward) {  // out = x·cos + [−x2, x1]·sin
      for (std::int64_t d = 0; d < h; ++d) o[d * so] = static_cast<T>(X(d) * C(d) - X(d + h) * S(d));
      for (std::int64_t d = h; d < D; ++d) o[d * so] = static_cast<T>(X(d) * C(d) + X(d - h) * S(d));
    } else {  // dx = dy·cos + [dy2·sin2, −dy1·sin1]
      for (std::int64_t d = 0; d < h; ++d) o[d * so] = static_cast<T>(X(d) * C(d) + X(d + h) * S(d + h));
      for (std::int64_t d = h; d < D; ++d) o[d * so] = static_cast<T>(X(d) * C(d) - X(d - h) * S(d - h));
    }
  });
}

}  // namespace rotary_kernel

/// out (any strides, x's shape) = x·cos + rotate_half(x)·sin; cos and sin broadcast to x's shape.
template <class T>
void rotary_forward(cpu_t, const Tensor& x, const Tensor& cos, const Tensor& sin, const Tensor& out) {
  rotary_kernel::rotary_rows<false, T>(x, cos, sin, out);
}

/// dx (any strides, dy's shape) = dy·cos + rotate_halfᵀ(dy·sin).
template <class T>
void rotary_backward(cpu_t, const Tensor& dy, const Tensor& cos, const Tensor& sin, const Tensor& dx) {
  rotary_kernel::rotary_rows<true, T>(dy, cos, sin, dx);
}

}  // namespace molm::backend
