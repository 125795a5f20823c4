// Indexing ops with PyTorch semantics: gather, index_select, embedding, each with its scatter-add vjp.
//
//   gather(x, d, index):        y[p] = x[p with p_d := index[p]]            index.dim() == x.dim()
//   index_select(x, d, index):  y[.., j, ..] = x[.., index[j], ..]          index 1-D, j along d
//   embedding(ids, W, pad):     y[..., :] = W[ids[...], :]                  W: [V, D], y: ids.shape + [D]
//   vjp of all three:           dx = 0;  dx[p with p_d := index[p]] += dy[p]
//   (embedding: positions whose id is the padding row add nothing, so that row never trains.)
//
// index_select and embedding are gathers whose index is broadcast (stride 0) along the copied
// dimensions, so all three run on one pair of kernels, backend/cpu/{kernels,reference}/indexing.hpp.
// The scatter-add is deterministic: each dx element sums its contributions in ascending order along d,
// on any thread count. 16-bit gradients are summed in float and rounded once.
// Index tensors may be i64 or i32. Values must lie in [0, size): negative indices are rejected, as
// PyTorch rejects them for these ops.
#pragma once

#include "molm/backend/kernels.hpp"
#include "molm/ops/factory.hpp"
#include "molm/ops/view.hpp"

#include <optional>
#include <string>

namespace molm {
namespace ops::detail {

inline void check_index_dtype(const Tensor& index, const char* op, const std::string& shapes) {
  MOLM_CHECK(index.dtype() == DType::i64 || index.dtype() == DType::i32, op,
             "the index must be an i64 or i32 tensor, got {} ({})", name(index.dtype()), shapes);
}

/// The first value of `index` outside [0, bound), in row-major order, if there is one.
inline std::optional<std::int64_t> first_out_of_range(const Tensor& index, std::int64_t bound) {
  const Tensor dense = index.contiguous();  // a copy only for a strided index
  return visit_index(index.dtype(), "index", [&](auto tag) -> std::optional<std::int64_t> {
    using I = typename decltype(tag)::type;
    const I* p = dense.data<I>();
    for (std::int64_t i = 0, n = dense.numel(); i < n; ++i)
      if (p[i] < 0 || static_cast<std::int64_t>(p[i]) >= bound) return static_cast<std::int64_t>(p[i]);
    return std::nullopt;
  });
}

/// y = x gathered along `dim` by a checked `index` of x's rank; no history.
inline Tensor gather_values(const Tensor& x, int dim, const Tensor& index) {
  Tensor out = Tensor::empty(index.shape(), x.dtype(), x.device());
  backend::call<backend::GatherForward>(x.device(), x.dtype(), x, dim, index, out);
  return out;
}

/// dx of shape `x_shape` (dy's dtype): dy scatter-added along `dim`; index == skip adds nothing.
inline Tensor gather_grad(const Tensor& dy, int dim, const Tensor& index, std::int64_t skip, const Shape& x_shape) {
  MOLM_CHECK(is_floating(dy.dtype()), "gather", "expects a floating-point tensor, got {}", name(dy.dtype()));
  Tensor acc = zeros(x_shape, acc_dtype(dy.dtype()));  // sums accumulate in acc_t of dy's dtype
  backend::call<backend::GatherBackward>(dy.device(), dy.dtype(), dy, dim, index, skip, acc);
  return acc.dtype() == dy.dtype() ? acc : convert(acc, dy.dtype());
}

/// `index` (0-d or 1-d, n values) as a tensor of `shape` that varies only along `dim`: the
/// broadcast index that turns index_select and embedding into a gather. No copy.
inline Tensor broadcast_index(const Tensor& index, const Shape& shape, int dim) {
  Shape strides;
  for (int d = 0; d < shape.size(); ++d) strides.push_back(d == dim && index.dim() == 1 ? index.stride(0) : 0);
  return alias(index, shape, strides, index.offset());
}

}  // namespace ops::detail

/// torch.gather: y[p] = x[p with coordinate `dim` replaced by index[p]]; y has index's shape.
/// index has x's rank and, in every dimension but `dim`, an extent no larger than x's.
inline Tensor gather(const Tensor& x, std::int64_t dim, const Tensor& index) {
  constexpr const char* op = "gather";
  ops::detail::check_cpu(x, op);
  ops::detail::check_cpu(index, op);
  const std::string shapes = fmt::format("x shape {}, index shape {}", x.shape().str(), index.shape().str());
  ops::detail::check_index_dtype(index, op, shapes);
  MOLM_CHECK(index.dim() == x.dim(), op, "the index must have as many dimensions as x ({})", shapes);
  MOLM_CHECK(dim >= -std::max(x.dim(), 1) && dim < std::max(x.dim(), 1), op, "dimension {} is out of range ({})",
             dim, shapes);
  if (x.dim() == 0) return gather(x.reshape({1}), 0, index.reshape({1})).reshape({});
  const int k = wrap_dim(dim, x.dim(), op);
  for (int d = 0; d < x.dim(); ++d)
    MOLM_CHECK(d == k || index.shape()[d] <= x.shape()[d], op,
               "the index extent {} exceeds x's extent {} in dimension {} ({})", index.shape()[d], x.shape()[d], d,
               shapes);
  if (auto bad = ops::detail::first_out_of_range(index, x.shape()[k]))
    MOLM_THROW(op, "index {} is out of range for dimension {} of size {} ({})", *bad, k, x.shape()[k], shapes);

  Tensor y = ops::detail::gather_values(x, k, index);
  if (autograd::any_requires_grad({&x})) {
    autograd::SavedTensor si(index, op);
    const Shape x_shape = x.shape();
    autograd::record(op, {x}, {y}, [si, k, x_shape](const std::vector<Tensor>& g) {
      return std::vector<Tensor>{ops::detail::gather_grad(g[0], k, si.get(), -1, x_shape)};
    });
  }
  return y;
}

/// torch.index_select: the slices of x at positions `index` (1-d) along `dim`, in index order.
inline Tensor index_select(const Tensor& x, std::int64_t dim, const Tensor& index) {
  constexpr const char* op = "index_select";
  ops::detail::check_cpu(x, op);
  ops::detail::check_cpu(index, op);
  const std::string shapes = fmt::format("x shape {}, index shape {}", x.shape().str(), index.shape().str());
  ops::detail::check_index_dtype(index, op, shapes);
  MOLM_CHECK(index.dim() <= 1, op, "the index must be 1-d ({})", shapes);
  MOLM_CHECK(x.dim() >= 1, op, "x must have at least one dimension ({})", shapes);
  MOLM_CHECK(dim >= -x.dim() && dim < x.dim(), op, "dimension {} is out of range ({})", dim, shapes);
  const int k = wrap_dim(dim, x.dim(), op);
  if (auto bad = ops::detail::first_out_of_range(index, x.shape()[k]))
    MOLM_THROW(op, "index {} is out of range for dimension {} of size {} ({})", *bad, k, x.shape()[k], shapes);

  Shape out_shape = x.shape();
  out_shape[k] = index.numel();
  const Tensor idx = ops::detail::broadcast_index(index, out_shape, k);
  Tensor y = ops::detail::gather_values(x, k, idx);
  if (autograd::any_requires_grad({&x})) {
    autograd::SavedTensor si(idx, op);
    const Shape x_shape = x.shape();
    autograd::record(op, {x}, {y}, [si, k, x_shape](const std::vector<Tensor>& g) {
      return std::vector<Tensor>{ops::detail::gather_grad(g[0], k, si.get(), -1, x_shape)};
    });
  }
  return y;
}

/// Table lookup: y[..., :] = weight[indices[...], :] for indices of any shape (i64 or i32) and a
/// weight of shape [V, D]. Rows equal to `padding_idx` receive no gradient (PyTorch's padding_idx).
/// A negative padding_idx means "no padding row" (PyTorch's None; negative values are not wrapped).
inline Tensor embedding(const Tensor& indices, const Tensor& weight, std::int64_t padding_idx = -1) {
  constexpr const char* op = "embedding";
  ops::detail::check_cpu(indices, op);
  ops::detail::check_cpu(weight, op);
  const std::string shapes =
      fmt::format("indices shape {}, weight shape {}", indices.shape().str(), weight.shape().str());
  ops::detail::check_index_dtype(indices, op, shapes);
  MOLM_CHECK(weight.dim() == 2, op, "the weight must be 2-d [V, D] ({})", shapes);
  const std::int64_t V = weight.shape()[0], D = weight.shape()[1];
  MOLM_CHECK(padding_idx < V, op, "padding_idx {} is not a row of the table ({})", padding_idx, shapes);
  if (auto bad = ops::detail::first_out_of_range(indices, V))
    MOLM_THROW(op, "index {} is out of range for a table of {} rows ({})", *bad, V, shapes);

  // A gather along dim 0 of the table, with each id repeated along the D columns.
  const std::int64_t N = indices.numel();
  const Tensor flat = indices.reshape({N});
  const Tensor idx = ops::detail::broadcast_index(flat, Shape{N, D}, 0);
  Shape out_shape = indices.shape();
  out_shape.push_back(D);
  Tensor y = ops::detail::gather_values(weight, 0, idx).view(out_shape);
  if (autograd::any_requires_grad({&weight})) {
    autograd::SavedTensor si(idx, op);
    const Shape w_shape = weight.shape();
    const std::int64_t skip = padding_idx < 0 ? -1 : padding_idx;  // -1 matches no valid id
    autograd::record(op, {weight}, {y}, [si, w_shape, skip, N, D](const std::vector<Tensor>& g) {
      return std::vector<Tensor>{ops::detail::gather_grad(g[0].reshape({N, D}), 0, si.get(), skip, w_shape)};
    });
  }
  return y;
}

}  // namespace molm
