// Reductions over dimensions: sum, mean, amax (max values), max (values + first argmax), and
// sum_to (the reduction broadcasting's vjp needs).
//
//   sum(x, dims):  y = Σ_dims x             dx = expand(dy)
//   mean(x, dims): y = Σ_dims x / m          dx = expand(dy) / m
//   amax(x, dims): y = max_dims x            dx = dy · [x == y] / (number of ties)   (PyTorch's rule)
//   max(x, dim):   (y, i) = max, argmax      dx = dy scattered to the first maximum
// Float sums accumulate in double (f32) or float (bf16/f16); NaN propagates through max.
#pragma once

#include "molm/autograd/node.hpp"
#include "molm/backend/cpu/reference/loops.hpp"
#include "molm/backend/dispatch.hpp"
#include "molm/tensor/iter.hpp"

#include <cmath>
#include <limits>
#include <vector>

namespace molm {

inline Tensor mul(const Tensor& a, const Tensor& b);
inline Tensor div(const Tensor& a, const Tensor& b);
inline Tensor eq(const Tensor& a, const Tensor& b);
inline Tensor operator*(const Tensor& a, double s);

namespace ops::detail {

/// The reduction plan: which dims are reduced, and the output shape with and without kept dims.
struct ReducePlan {
  std::vector<bool> reduced;
  Shape keep_shape;  // input rank, reduced dims set to 1
  Shape out_shape;   // what the caller asked for (keepdim or not)
  std::int64_t count = 1;  // elements per output
};

inline ReducePlan plan_reduce(const Tensor& x, const std::vector<std::int64_t>& dims, bool keepdim, const char* op) {
  ReducePlan p;
  p.reduced.assign(static_cast<std::size_t>(x.dim()), dims.empty());  // no dims = reduce all
  for (auto d : dims) {
    const int k = wrap_dim(d, x.dim(), op);
    MOLM_CHECK(!p.reduced[static_cast<std::size_t>(k)] || dims.empty(), op, "dimension {} repeats", d);
    p.reduced[static_cast<std::size_t>(k)] = true;
  }
  for (int i = 0; i < x.dim(); ++i) {
    const bool r = p.reduced[static_cast<std::size_t>(i)];
    p.keep_shape.push_back(r ? 1 : x.shape()[i]);
    if (r) p.count *= x.shape()[i];
    if (!r || keepdim) p.out_shape.push_back(r ? 1 : x.shape()[i]);
  }
  return p;
}

/// Accumulator type of a sum: double for float, float for the 16-bit floats, int64 for integers.
template <class T>
using sum_acc_t = std::conditional_t<std::is_same_v<T, float> || std::is_same_v<T, double>, double,
                                     std::conditional_t<is_floating_v<T>, float, std::int64_t>>;

/// Geometry splitting x into (outer = kept dims) x (inner = reduced dims).
struct RowGeometry {
  Shape outer_shape, outer_strides, inner_shape, inner_strides;
};
inline RowGeometry split_rows(const Tensor& x, const ReducePlan& p) {
  RowGeometry g;
  for (int i = 0; i < x.dim(); ++i) {
    if (p.reduced[static_cast<std::size_t>(i)]) {
      g.inner_shape.push_back(x.shape()[i]);
      g.inner_strides.push_back(x.strides()[i]);
    } else {
      g.outer_shape.push_back(x.shape()[i]);
      g.outer_strides.push_back(x.strides()[i]);
    }
  }
  return g;
}

/// Reduce x into `out` (dense, shape keep_shape) with init/step/finish functors per output element.
/// The optimised path runs output elements in parallel and walks each one's inner elements in runs.
template <class T, class TO, class Init, class Step, class Finish>
void reduce_into(const Tensor& x, const ReducePlan& p, const Tensor& out, Init init, Step step, Finish finish) {
  const RowGeometry g = split_rows(x, p);
  const T* px = x.data<T>();
  TO* po = out.data<TO>();
  const std::int64_t n_out = g.outer_shape.numel();
  const std::int64_t n_in = g.inner_shape.numel();
  if (backend::use_reference()) {
    std::int64_t o = 0;
    backend::reference::for_each_index(g.outer_shape, [&](const auto& oi) {
      auto acc = init();
      const std::int64_t base = backend::reference::offset_of(oi, g.outer_strides);
      backend::reference::for_each_index(g.inner_shape, [&](const auto& ii) {
        step(acc, px[base + backend::reference::offset_of(ii, g.inner_strides)]);
      });
      po[o++] = finish(acc);
    });
    return;
  }
  const molm::detail::LoopGeometry<1> inner = molm::detail::coalesce(molm::detail::LoopGeometry<1>{g.inner_shape, {g.inner_strides}});
  molm::detail::parallel_for(n_out, n_in, [&](std::int64_t o) {
    std::int64_t rem = o, base = 0;
    for (int d = g.outer_shape.size() - 1; d >= 0; --d) {
      base += (rem % g.outer_shape[d]) * g.outer_strides[d];
      rem /= g.outer_shape[d];
    }
    auto acc = init();
    molm::detail::for_each_run<1>(inner, 0, n_in, [&](const auto& off, std::int64_t n, const auto& s) {
      const T* row = px + base + off[0];
      if (s[0] == 1)
        for (std::int64_t i = 0; i < n; ++i) step(acc, row[i]);
      else
        for (std::int64_t i = 0; i < n; ++i) step(acc, row[i * s[0]]);
    });
    po[o] = finish(acc);
  });
}

/// The rows-then-columns shape of a contiguous x whose reduced dims are exactly its leading ones
/// (a bias gradient: [rows, out] summed over rows): {R, C}, or {0, 0} when x is not like that.
inline std::pair<std::int64_t, std::int64_t> leading_reduction(const Tensor& x, const ReducePlan& p) {
  if (!x.is_contiguous() || x.dim() < 2) return {0, 0};
  int k = 0;
  while (k < x.dim() && p.reduced[static_cast<std::size_t>(k)]) ++k;
  if (k == 0 || k == x.dim()) return {0, 0};
  for (int i = k; i < x.dim(); ++i)
    if (p.reduced[static_cast<std::size_t>(i)]) return {0, 0};
  std::int64_t R = 1, C = 1;
  for (int i = 0; i < k; ++i) R *= x.shape()[i];
  for (int i = k; i < x.dim(); ++i) C *= x.shape()[i];
  return {R, C};
}

/// Column sums of a contiguous [R, C]: each output accumulates its rows in order 0 … R-1 — the
/// order reduce_into uses, so the result is bit-identical — but a task walks a block of columns
/// row by row, reading memory contiguously instead of striding down one column at a time.
template <class T, class A, class Finish>
void column_sums(const T* x, std::int64_t R, std::int64_t C, T* out, Finish finish) {
  constexpr std::int64_t kBlock = 256;
  const std::int64_t blocks = (C + kBlock - 1) / kBlock;
  molm::detail::parallel_for(blocks, R * kBlock, [&](std::int64_t b) {
    const std::int64_t c0 = b * kBlock, n = std::min(kBlock, C - c0);
    A acc[kBlock];
    for (std::int64_t j = 0; j < n; ++j) acc[j] = A{0};
    for (std::int64_t r = 0; r < R; ++r) {
      const T* row = x + r * C + c0;
      for (std::int64_t j = 0; j < n; ++j) acc[j] += static_cast<A>(row[j]);
    }
    for (std::int64_t j = 0; j < n; ++j) out[c0 + j] = finish(acc[j]);
  });
}

inline Tensor sum_impl(const Tensor& x, const ReducePlan& p, double scale) {
  Tensor out = Tensor::empty(p.keep_shape, x.dtype());
  visit_dtype(x.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    using A = sum_acc_t<T>;
    if constexpr (std::is_same_v<T, bool>) {
      MOLM_THROW("sum", "cannot sum a bool tensor; convert it with .to(DType::i64) first");
    } else {
      if constexpr (std::is_same_v<T, float> || std::is_same_v<T, double>) {
        const auto rc = leading_reduction(x, p);
        if (rc.first > 1 && rc.second >= 16 && !backend::use_reference()) {
          column_sums<T, A>(x.data<T>(), rc.first, rc.second, out.data<T>(), [scale](A a) {
            return static_cast<T>(static_cast<acc_t<T>>(static_cast<double>(a) * scale));
          });
          return;
        }
      }
      reduce_into<T, T>(
          x, p, out, [] { return A{0}; }, [](A& a, T v) { a += static_cast<A>(static_cast<acc_t<T>>(v)); },
          [scale](A a) {
            (void)scale;  // unused for integers (clang warns about the capture otherwise)
            if constexpr (std::is_integral_v<T>) return static_cast<T>(a);
            else return static_cast<T>(static_cast<acc_t<T>>(static_cast<double>(a) * scale));
          });
    }
  });
  return out;
}

}  // namespace ops::detail

/// Σ over `dims` (all when empty). dx = dy broadcast back.
inline Tensor sum(const Tensor& x, const std::vector<std::int64_t>& dims = {}, bool keepdim = false) {
  ops::detail::ReducePlan p = ops::detail::plan_reduce(x, dims, keepdim, "sum");
  Tensor out = ops::detail::sum_impl(x, p, 1.0).view(p.out_shape);
  if (autograd::any_requires_grad({&x})) {
    Shape in_shape = x.shape(), keep = p.keep_shape;
    autograd::record("sum", {x}, {out}, [in_shape, keep](const std::vector<Tensor>& g) {
      return std::vector<Tensor>{g[0].view(keep).expand(in_shape).contiguous()};
    });
  }
  return out;
}

/// Mean over `dims` (all when empty). dx = dy / m broadcast back.
inline Tensor mean(const Tensor& x, const std::vector<std::int64_t>& dims = {}, bool keepdim = false) {
  MOLM_CHECK(is_floating(x.dtype()), "mean", "needs a floating tensor, got {}", name(x.dtype()));
  ops::detail::ReducePlan p = ops::detail::plan_reduce(x, dims, keepdim, "mean");
  const double inv = p.count ? 1.0 / static_cast<double>(p.count) : std::numeric_limits<double>::quiet_NaN();
  Tensor out = ops::detail::sum_impl(x, p, inv).view(p.out_shape);
  if (autograd::any_requires_grad({&x})) {
    Shape in_shape = x.shape(), keep = p.keep_shape;
    autograd::record("mean", {x}, {out}, [in_shape, keep, inv](const std::vector<Tensor>& g) {
      return std::vector<Tensor>{(g[0].view(keep).expand(in_shape) * inv).contiguous()};
    });
  }
  return out;
}

/// Sum `g` down to `shape` (the reverse of broadcasting `shape` up to g's shape).
inline Tensor sum_to(const Tensor& g, const Shape& shape) {
  if (g.shape() == shape) return g;
  const int lead = g.dim() - shape.size();
  MOLM_CHECK(lead >= 0, "sum_to", "cannot reduce shape {} to {}", g.shape().str(), shape.str());
  std::vector<std::int64_t> dims;
  for (int i = 0; i < g.dim(); ++i) {
    const int j = i - lead;
    if (j < 0 || (shape[j] == 1 && g.shape()[i] != 1)) dims.push_back(i);
    else
      MOLM_CHECK(shape[j] == g.shape()[i], "sum_to", "cannot reduce shape {} to {}", g.shape().str(), shape.str());
  }
  if (dims.empty()) return g.reshape(shape);
  return sum(g, dims, true).reshape(shape);
}

namespace ops::detail {
template <class T> struct MaxAcc {
  acc_t<T> v;
  std::int64_t i;  // inner position of the next element
  std::int64_t k;  // inner position of the maximum so far; -1 before the first element
};

inline std::pair<Tensor, Tensor> max_impl(const Tensor& x, const ReducePlan& p, bool want_index, const char* op) {
  MOLM_CHECK(x.numel() > 0 && p.count > 0, op, "cannot take the maximum of an empty selection (shape {})",
             x.shape().str());
  Tensor values = Tensor::empty(p.keep_shape, x.dtype());
  Tensor index = want_index ? Tensor::empty(p.keep_shape, DType::i64) : Tensor();
  visit_dtype(x.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    using A = acc_t<T>;
    // The accumulator tracks the running maximum, its position k, and the inner position i.
    auto init = [] { return MaxAcc<T>{std::numeric_limits<A>::lowest(), /*i=*/0, /*k=*/-1}; };
    auto step = [](MaxAcc<T>& a, T v) {
      const A x = static_cast<A>(v);
      if constexpr (std::is_floating_point_v<A>) {
        if (!(std::isnan(a.v) && a.k >= 0) && (a.k < 0 || x > a.v || std::isnan(x))) {
          a.v = x;
          a.k = a.i;
        }
      } else if (a.k < 0 || x > a.v) {
        a.v = x;
        a.k = a.i;
      }
      ++a.i;
    };
    reduce_into<T, T>(x, p, values, init, step, [](const MaxAcc<T>& a) { return static_cast<T>(a.v); });
    if (want_index)
      reduce_into<T, std::int64_t>(x, p, index, init, step, [](const MaxAcc<T>& a) { return a.k; });
  });
  return {values, index};
}
}  // namespace ops::detail

/// Maximum over `dims` (all when empty). The gradient is split evenly among ties, as torch.amax.
inline Tensor amax(const Tensor& x, const std::vector<std::int64_t>& dims = {}, bool keepdim = false) {
  ops::detail::ReducePlan p = ops::detail::plan_reduce(x, dims, keepdim, "amax");
  Tensor keep = ops::detail::max_impl(x, p, false, "amax").first;
  Tensor out = keep.view(p.out_shape);
  if (autograd::any_requires_grad({&x})) {
    autograd::SavedTensor sx(x, "amax"), sy(keep, "amax");
    Shape keep_shape = p.keep_shape;
    autograd::record("amax", {x}, {out}, [sx, sy, keep_shape](const std::vector<Tensor>& g) {
      const Tensor& xv = sx.get();
      Tensor hit = eq(xv, sy.get()).to(xv.dtype());  // 1 at every maximum
      Tensor ties = sum_to(hit, keep_shape);         // how many maxima share each output
      return std::vector<Tensor>{mul(div(hit, ties), g[0].view(keep_shape))};
    });
  }
  return out;
}

/// Maximum over one dimension with the index of its first occurrence. dx = dy at that index.
inline std::pair<Tensor, Tensor> max(const Tensor& x, std::int64_t dim, bool keepdim = false) {
  ops::detail::ReducePlan p = ops::detail::plan_reduce(x, {dim}, keepdim, "max");
  auto [vals, idx] = ops::detail::max_impl(x, p, true, "max");
  Tensor out = vals.view(p.out_shape);
  if (autograd::any_requires_grad({&x})) {
    autograd::SavedTensor si(idx, "max");
    const int k = wrap_dim(dim, x.dim(), "max");
    Shape keep_shape = p.keep_shape, in_shape = x.shape();
    autograd::record("max", {x}, {out}, [si, k, keep_shape, in_shape](const std::vector<Tensor>& g) {
      Tensor dx = Tensor::empty(in_shape, g[0].dtype()).zero_();
      const Tensor& ix = si.get();
      const Tensor dy = g[0].view(keep_shape).contiguous();
      visit_floating(dx.dtype(), "max", [&](auto tag) {
        using T = typename decltype(tag)::type;
        T* pdx = dx.data<T>();
        const T* pdy = dy.data<T>();
        const std::int64_t* pi = ix.data<std::int64_t>();
        const Shape st = dx.strides(), dense = contiguous_strides(keep_shape);
        backend::reference::for_each_index(keep_shape, [&](const auto& idx) {
          const std::int64_t o = backend::reference::offset_of(idx, dense);
          pdx[backend::reference::offset_of(idx, st) + pi[o] * st[k]] = pdy[o];
        });
      });
      return std::vector<Tensor>{dx};
    });
  }
  return {out, idx.view(p.out_shape)};
}

}  // namespace molm

#include "molm/ops/binary.hpp"
