// Reference softmax / log_softmax: one row at a time, single-threaded, every element addressed
// through its multi-index and strides. The oracle for backend/cpu/kernels/softmax.hpp.
#pragma once

#include "molm/backend/cpu/reference/loops.hpp"
#include "molm/core/device.hpp"
#include "molm/tensor/iter.hpp"

#include <cmath>
#include <limits>

namespace molm::backend {

template <class T>
void softmax_forward(reference_t, const Tensor& x, const Tensor& mask, const Tensor& y, bool log) {
  using A = acc_t<T>;
  const Shape& shape = x.shape();
  const int last = shape.size() - 1;
  const std::int64_t C = shape.back();
  const Shape sx = x.strides(), sy = y.strides();
  const Shape sm = mask.defined() ? molm::detail::broadcast_strides(mask, shape) : Shape{};
  const T* px = x.data<T>();
  const T* pm = mask.defined() ? mask.data<T>() : nullptr;
  T* py = y.data<T>();
  Shape rows = shape;
  rows[last] = 1;
  constexpr A ninf = -std::numeric_limits<A>::infinity();

  reference::for_each_index(rows, [&](auto idx) {
    auto z = [&](std::int64_t j) {  // x + mask at column j
      idx[last] = j;
      A v = static_cast<A>(px[reference::offset_of(idx, sx)]);
      if (pm) v += static_cast<A>(pm[reference::offset_of(idx, sm)]);
      return v;
    };
    auto out = [&](std::int64_t j) -> T& {
      idx[last] = j;
      return py[reference::offset_of(idx, sy)];
    };
    A mx = ninf;
    for (std::int64_t j = 0; j < C; ++j) {
      const A v = z(j);
      if (v > mx || std::isnan(v)) mx = v;
    }
    if (mx == ninf) {  // fully masked row
      for (std::int64_t j = 0; j < C; ++j) out(j) = static_cast<T>(log ? ninf : A(0));
      return;
    }
    A sum = 0;
    for (std::int64_t j = 0; j < C; ++j) sum += std::exp(z(j) - mx);
    for (std::int64_t j = 0; j < C; ++j)
      out(j) = static_cast<T>(log ? z(j) - mx - std::log(sum) : std::exp(z(j) - mx) / sum);
  });
}

template <class T>
void softmax_backward(reference_t, const Tensor& y, const Tensor& dy, const Tensor& dx, bool log) {
  using A = acc_t<T>;
  const Shape& shape = y.shape();
  const int last = shape.size() - 1;
  const std::int64_t C = shape.back();
  const Shape sy = y.strides(), sd = dy.strides(), sdx = dx.strides();
  const T* py = y.data<T>();
  const T* pd = dy.data<T>();
  T* pdx = dx.data<T>();
  Shape rows = shape;
  rows[last] = 1;
  constexpr A ninf = -std::numeric_limits<A>::infinity();

  reference::for_each_index(rows, [&](auto idx) {
    auto at = [&](const auto* p, const Shape& s, std::int64_t j) {
      idx[last] = j;
      return static_cast<A>(p[reference::offset_of(idx, s)]);
    };
    A s = 0;
    for (std::int64_t j = 0; j < C; ++j) {
      if (log) {
        if (at(py, sy, j) != ninf) s += at(pd, sd, j);
      } else {
        s += at(pd, sd, j) * at(py, sy, j);
      }
    }
    for (std::int64_t j = 0; j < C; ++j) {
      const A yj = at(py, sy, j), gj = at(pd, sd, j);
      const A v = log ? (yj == ninf ? A(0) : gj - std::exp(yj) * s) : yj * (gj - s);
      idx[last] = j;
      pdx[reference::offset_of(idx, sdx)] = static_cast<T>(v);
    }
  });
}

}  // namespace molm::backend
