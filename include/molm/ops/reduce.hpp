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
#include "molm/backend/kernels.hpp"
#include "molm/ops/map.hpp"
#include "molm/tensor/views.hpp"

#include <cmath>
#include <limits>
#include <vector>

namespace molm {

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

/// scale · Σ over the plan's dims, into a new tensor of keep_shape (no history).
inline Tensor sum_impl(const Tensor& x, const ReducePlan& p, double scale) {
  MOLM_CHECK(x.dtype() != DType::boolean, "sum", "cannot sum a bool tensor; convert it with .to(DType::i64) first");
  Tensor out = Tensor::empty(p.keep_shape, x.dtype(), x.device());
  backend::call<backend::Sum>(x.device(), x.dtype(), x, p.reduced, scale, out);
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
      return std::vector<Tensor>{
          ops::detail::unary_kernel(backend::UnaryOp::mul_scalar, g[0].view(keep).expand(in_shape), inv)};
    });
  }
  return out;
}

/// Sum `g` down to `shape` (the reverse of broadcasting `shape` up to g's shape).
inline Tensor sum_to(const Tensor& g, const Shape& shape) {
  if (g.shape() == shape) return g;
  const std::vector<bool> reduced = detail::sum_to_dims(g.shape(), shape);
  std::vector<std::int64_t> dims;
  for (int i = 0; i < g.dim(); ++i)
    if (reduced[static_cast<std::size_t>(i)]) dims.push_back(i);
  if (dims.empty()) return g.reshape(shape);
  return sum(g, dims, true).reshape(shape);
}

namespace ops::detail {
inline std::pair<Tensor, Tensor> max_impl(const Tensor& x, const ReducePlan& p, bool want_index, const char* op) {
  MOLM_CHECK(x.numel() > 0 && p.count > 0, op, "cannot take the maximum of an empty selection (shape {})",
             x.shape().str());
  Tensor values = Tensor::empty(p.keep_shape, x.dtype(), x.device());
  Tensor index = want_index ? Tensor::empty(p.keep_shape, DType::i64, x.device()) : Tensor();
  backend::call<backend::Max>(x.device(), x.dtype(), x, p.reduced, values, index);
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
      using backend::BinaryOp;
      const Tensor& xv = sx.get();
      const DType dt = xv.dtype();
      Tensor hit = ops::detail::binary_kernel(BinaryOp::eq, xv, sy.get(), DType::boolean, "amax").to(dt);  // 1 at every maximum
      Tensor ties = sum_to(hit, keep_shape);  // how many maxima share each output
      Tensor share = ops::detail::binary_kernel(BinaryOp::div, hit, ties, dt, "amax");
      return std::vector<Tensor>{ops::detail::binary_kernel(BinaryOp::mul, share, g[0].view(keep_shape), dt, "amax")};
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
      Tensor dx = Tensor::empty(in_shape, g[0].dtype(), g[0].device()).zero_();
      const Tensor dy = g[0].view(keep_shape).contiguous();
      backend::call<backend::MaxBackward>(dx.device(), dx.dtype(), dy, si.get(), k, dx);
      return std::vector<Tensor>{dx};
    });
  }
  return {out, idx.view(p.out_shape)};
}

}  // namespace molm

