// Reference layer_norm and rms_norm: single-threaded, one row at a time, every element addressed
// through its multi-index and strides. The oracle for backend/cpu/kernels/normalization.hpp.
#pragma once

#include "molm/backend/cpu/reference/loops.hpp"
#include "molm/core/device.hpp"
#include "molm/tensor/tensor.hpp"

#include <cmath>
#include <vector>

namespace molm::backend {
namespace reference {

/// Visit each row of x (all dims but the last): f(row number, idx) where idx addresses the row and
/// the caller sets idx[last] to the column.
template <class F> void for_each_row(const Shape& shape, F&& f) {
  Shape rows = shape;
  rows[rows.size() - 1] = 1;
  std::int64_t r = 0;
  for_each_index(rows, [&](auto idx) { f(r++, idx); });
}

/// Element j of a 1-d parameter as A, or `fill` when the parameter is undefined.
template <class T, class A> A param_at(const Tensor& p, std::int64_t j, A fill) {
  return p.defined() ? static_cast<A>(p.data<T>()[j * p.stride(0)]) : fill;
}

/// Write column sums (double) into a [C] tensor of T.
template <class T> void write_columns(const Tensor& out, const std::vector<double>& sums) {
  for (std::int64_t j = 0; j < out.numel(); ++j)
    out.data<T>()[j * out.stride(0)] = static_cast<T>(static_cast<acc_t<T>>(sums[static_cast<std::size_t>(j)]));
}

}  // namespace reference

template <class T>
void layer_norm_forward(reference_t, const Tensor& x, const Tensor& w, const Tensor& b, double eps, const Tensor& y,
                        const Tensor& mean, const Tensor& rstd) {
  using A = acc_t<T>;
  const int last = x.dim() - 1;
  const std::int64_t C = x.shape().back();
  reference::for_each_row(x.shape(), [&](std::int64_t r, auto& idx) {
    auto xv = [&](std::int64_t j) {
      idx[last] = j;
      return static_cast<A>(x.data<T>()[reference::offset_of(idx, x.strides())]);
    };
    A s = 0;
    for (std::int64_t j = 0; j < C; ++j) s += xv(j);
    const A mu = s / static_cast<A>(C);
    A ss = 0;
    for (std::int64_t j = 0; j < C; ++j) ss += (xv(j) - mu) * (xv(j) - mu);
    const A rs = A(1) / std::sqrt(ss / static_cast<A>(C) + static_cast<A>(eps));
    for (std::int64_t j = 0; j < C; ++j) {
      const A v = (xv(j) - mu) * rs * reference::param_at<T>(w, j, A(1)) + reference::param_at<T>(b, j, A(0));
      y.data<T>()[reference::offset_of(idx, y.strides())] = static_cast<T>(v);
    }
    mean.data<A>()[r] = mu;
    rstd.data<A>()[r] = rs;
  });
}

template <class T>
void layer_norm_backward(reference_t, const Tensor& dy, const Tensor& x, const Tensor& w, const Tensor& mean,
                         const Tensor& rstd, const Tensor& dx, const Tensor& dw, const Tensor& db) {
  using A = acc_t<T>;
  const int last = x.dim() - 1;
  const std::int64_t C = x.shape().back();
  std::vector<double> dw_sum(static_cast<std::size_t>(C), 0.0), db_sum(static_cast<std::size_t>(C), 0.0);
  reference::for_each_row(x.shape(), [&](std::int64_t r, auto& idx) {
    const A mu = mean.data<A>()[r], rs = rstd.data<A>()[r];
    auto xhat = [&](std::int64_t j) {
      idx[last] = j;
      return (static_cast<A>(x.data<T>()[reference::offset_of(idx, x.strides())]) - mu) * rs;
    };
    auto dyv = [&](std::int64_t j) {
      idx[last] = j;
      return static_cast<A>(dy.data<T>()[reference::offset_of(idx, dy.strides())]);
    };
    A s1 = 0, s2 = 0;
    for (std::int64_t j = 0; j < C; ++j) {
      const A g = dyv(j) * reference::param_at<T>(w, j, A(1));
      s1 += g;
      s2 += g * xhat(j);
      dw_sum[static_cast<std::size_t>(j)] += static_cast<double>(dyv(j) * xhat(j));
      db_sum[static_cast<std::size_t>(j)] += static_cast<double>(dyv(j));
    }
    if (!dx.defined()) return;
    for (std::int64_t j = 0; j < C; ++j) {
      const A g = dyv(j) * reference::param_at<T>(w, j, A(1));
      const A v = rs * (g - s1 / static_cast<A>(C) - xhat(j) * (s2 / static_cast<A>(C)));
      dx.data<T>()[reference::offset_of(idx, dx.strides())] = static_cast<T>(v);
    }
  });
  if (dw.defined()) reference::write_columns<T>(dw, dw_sum);
  if (db.defined()) reference::write_columns<T>(db, db_sum);
}

template <class T>
void rms_norm_forward(reference_t, const Tensor& x, const Tensor& w, double eps, const Tensor& y, const Tensor& rstd) {
  using A = acc_t<T>;
  const int last = x.dim() - 1;
  const std::int64_t C = x.shape().back();
  reference::for_each_row(x.shape(), [&](std::int64_t r, auto& idx) {
    auto xv = [&](std::int64_t j) {
      idx[last] = j;
      return static_cast<A>(x.data<T>()[reference::offset_of(idx, x.strides())]);
    };
    A ss = 0;
    for (std::int64_t j = 0; j < C; ++j) ss += xv(j) * xv(j);
    const A rs = A(1) / std::sqrt(ss / static_cast<A>(C) + static_cast<A>(eps));
    for (std::int64_t j = 0; j < C; ++j) {
      const T h = static_cast<T>(xv(j) * rs);  // rounded to the input dtype first, as HF does
      y.data<T>()[reference::offset_of(idx, y.strides())] =
          static_cast<T>(reference::param_at<T>(w, j, A(1)) * static_cast<A>(h));
    }
    rstd.data<A>()[r] = rs;
  });
}

template <class T>
void rms_norm_backward(reference_t, const Tensor& dy, const Tensor& x, const Tensor& w, const Tensor& rstd,
                       const Tensor& dx, const Tensor& dw) {
  using A = acc_t<T>;
  const int last = x.dim() - 1;
  const std::int64_t C = x.shape().back();
  std::vector<double> dw_sum(static_cast<std::size_t>(C), 0.0);
  reference::for_each_row(x.shape(), [&](std::int64_t r, auto& idx) {
    const A rs = rstd.data<A>()[r];
    auto h = [&](std::int64_t j) {
      idx[last] = j;
      return static_cast<A>(x.data<T>()[reference::offset_of(idx, x.strides())]) * rs;
    };
    auto dyv = [&](std::int64_t j) {
      idx[last] = j;
      return static_cast<A>(dy.data<T>()[reference::offset_of(idx, dy.strides())]);
    };
    A s = 0;
    for (std::int64_t j = 0; j < C; ++j) {
      s += dyv(j) * reference::param_at<T>(w, j, A(1)) * h(j);
      dw_sum[static_cast<std::size_t>(j)] += static_cast<double>(dyv(j) * static_cast<A>(static_cast<T>(h(j))));
    }
    if (!dx.defined()) return;
    for (std::int64_t j = 0; j < C; ++j) {
      const A v = rs * (dyv(j) * reference::param_at<T>(w, j, A(1)) - h(j) * (s / static_cast<A>(C)));
      dx.data<T>()[reference::offset_of(idx, dx.strides())] = static_cast<T>(v);
    }
  });
  if (dw.defined()) reference::write_columns<T>(dw, dw_sum);
}

}  // namespace molm::backend
