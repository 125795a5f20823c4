// Joining tensors: cat (along an existing dimension) and stack (along a new one), PyTorch semantics.
//
//   cat(xs, d):    y = [x_0 | x_1 | ...] along d     dx_i = narrow(dy, d, start_i, size_i)   (a view of dy)
//   stack(xs, d):  y = cat(unsqueeze(x_i, d), d)      dx_i = dy[.., i, ..] through cat's and unsqueeze's vjps
// Inputs must share one dtype (molm never promotes silently) and agree in every dimension but d.
// PyTorch's legacy rule that skips 1-d empty inputs of another rank is not supported.
#pragma once

#include "molm/backend/kernels.hpp"
#include "molm/ops/view.hpp"

#include <string>
#include <vector>

namespace molm {
namespace ops::detail {

/// "[2, 3] f32, [2, 4] f32": every input, for error messages.
inline std::string describe_all(const std::vector<Tensor>& xs) {
  std::string s;
  for (std::size_t i = 0; i < xs.size(); ++i)
    s += (i ? ", " : "") + xs[i].shape().str() + " " + std::string(name(xs[i].dtype()));
  return s;
}

/// Checks shared by cat and stack: a non-empty list of defined CPU tensors of one dtype and rank.
inline void check_joinable(const std::vector<Tensor>& xs, const char* op) {
  MOLM_CHECK(!xs.empty(), op, "needs at least one tensor");
  for (const Tensor& x : xs) check_cpu(x, op);
  for (const Tensor& x : xs) {
    MOLM_CHECK(x.dtype() == xs[0].dtype(), op, "all tensors must share one dtype (convert with .to()); got {}",
               describe_all(xs));
    MOLM_CHECK(x.dim() == xs[0].dim(), op, "all tensors must have the same number of dimensions; got {}",
               describe_all(xs));
  }
}

}  // namespace ops::detail

/// Concatenate along `dim`; every other extent must agree.
inline Tensor cat(const std::vector<Tensor>& xs, std::int64_t dim = 0) {
  constexpr const char* op = "cat";
  ops::detail::check_joinable(xs, op);
  const int rank = xs[0].dim();
  MOLM_CHECK(rank > 0, op, "zero-dimensional tensors cannot be concatenated (use stack); got {}",
             ops::detail::describe_all(xs));
  MOLM_CHECK(dim >= -rank && dim < rank, op, "dimension {} is out of range for {}-d tensors; got {}", dim, rank,
             ops::detail::describe_all(xs));
  const int k = wrap_dim(dim, rank, op);
  Shape out_shape = xs[0].shape();
  out_shape[k] = 0;
  for (std::size_t i = 0; i < xs.size(); ++i) {
    for (int d = 0; d < rank; ++d)
      MOLM_CHECK(d == k || xs[i].shape()[d] == xs[0].shape()[d], op,
                 "tensors must agree in every dimension but {}; tensor {} differs in dimension {}; got {}", k, i, d,
                 ops::detail::describe_all(xs));
    out_shape[k] += xs[i].shape()[k];
  }

  Tensor y = Tensor::empty(out_shape, xs[0].dtype());
  backend::call<backend::Cat>(y.device(), y.dtype(), xs, k, y);

  if (autograd::any_requires_grad(xs)) {
    std::vector<std::int64_t> starts, sizes;
    std::vector<bool> wanted;
    std::int64_t start = 0;
    for (const Tensor& x : xs) {
      starts.push_back(start);
      sizes.push_back(x.shape()[k]);
      wanted.push_back(x.requires_grad());
      start += x.shape()[k];
    }
    autograd::record(op, xs, {y}, [starts, sizes, wanted, k](const std::vector<Tensor>& g) {
      std::vector<Tensor> dx(starts.size());
      for (std::size_t i = 0; i < dx.size(); ++i)
        if (wanted[i]) dx[i] = g[0].narrow(k, starts[i], sizes[i]);
      return dx;
    });
  }
  return y;
}

/// Stack equal-shaped tensors along a new dimension `dim` (in [-(rank+1), rank]).
inline Tensor stack(const std::vector<Tensor>& xs, std::int64_t dim = 0) {
  constexpr const char* op = "stack";
  ops::detail::check_joinable(xs, op);
  const int rank = xs[0].dim();
  for (const Tensor& x : xs)
    MOLM_CHECK(x.shape() == xs[0].shape(), op, "all tensors must have the same shape; got {}",
               ops::detail::describe_all(xs));
  MOLM_CHECK(dim >= -(rank + 1) && dim <= rank, op, "dimension {} is out of range for stacking {}-d tensors; got {}",
             dim, rank, ops::detail::describe_all(xs));
  const int k = wrap_dim(dim, rank + 1, op);
  std::vector<Tensor> parts;
  parts.reserve(xs.size());
  for (const Tensor& x : xs) parts.push_back(x.unsqueeze(k));
  return cat(parts, k);
}

}  // namespace molm
