// Choosing elements by a boolean mask: masked_fill and where, NumPy broadcasting of every operand.
//
//   masked_fill(x, mask, v):  y = mask ? v : x        dx = sum_to(mask ? 0 : dy, x.shape)
//   where(c, a, b):           y = c ? a : b           da = sum_to(c ? dy : 0, a.shape)
//                                                     db = sum_to(c ? 0 : dy, b.shape)
// Both are elementwise maps: the MaskedFill and Where kernels (backend/kernels.hpp). They copy values
// without arithmetic, so every dtype (bf16 included) comes through bit-exact.
// Masks must be bool (PyTorch's deprecated u8 masks are rejected); a and b must share one dtype.
#pragma once

#include "molm/ops/binary.hpp"

#include <cmath>
#include <optional>
#include <string>

namespace molm {
namespace ops::detail {

inline void check_bool_mask(const Tensor& mask, const char* op, const std::string& shapes) {
  MOLM_CHECK(mask.dtype() == DType::boolean, op, "the mask must be a bool tensor, got {} ({})", name(mask.dtype()),
             shapes);
}

/// y = (mask == when) ? value : x, with mask and x broadcast to `shape`; no history.
inline Tensor fill_where(const Tensor& x, const Tensor& mask, bool when, double value, const Shape& shape) {
  Tensor out = Tensor::empty(shape, x.dtype(), x.device());
  backend::call<backend::MaskedFill>(x.device(), x.dtype(), x, mask, when, value, out);
  return out;
}

/// The broadcast of three shapes, or nothing when they do not broadcast together.
inline std::optional<Shape> broadcast_three(const Shape& a, const Shape& b, const Shape& c) {
  Shape out;
  const int n = std::max({a.size(), b.size(), c.size()});
  for (int i = 0; i < n; ++i) {
    std::int64_t d = 1;
    for (const Shape* s : {&a, &b, &c}) {
      const int j = i - (n - s->size());
      const std::int64_t e = j >= 0 ? (*s)[j] : 1;
      if (e == 1) continue;
      if (d != 1 && d != e) return std::nullopt;
      d = e;
    }
    out.push_back(d);
  }
  return out;
}

}  // namespace ops::detail

/// x with `value` written wherever `mask` (bool, broadcast against x) is true. The gradient is zero
/// at the filled positions.
inline Tensor masked_fill(const Tensor& x, const Tensor& mask, double value) {
  constexpr const char* op = "masked_fill";
  ops::detail::check_cpu(x, op);
  ops::detail::check_cpu(mask, op);
  const std::string shapes = fmt::format("x shape {}, mask shape {}", x.shape().str(), mask.shape().str());
  ops::detail::check_bool_mask(mask, op, shapes);
  MOLM_CHECK(is_floating(x.dtype()) || std::isfinite(value), op, "cannot fill a {} tensor with {} ({})",
             name(x.dtype()), value, shapes);
  const Shape shape = broadcast_shapes(x.shape(), mask.shape(), op);
  Tensor y = ops::detail::fill_where(x, mask, true, value, shape);
  if (autograd::any_requires_grad({&x})) {
    autograd::SavedTensor sm(mask, op);
    const Shape x_shape = x.shape();
    autograd::record(op, {x}, {y}, [sm, x_shape](const std::vector<Tensor>& g) {
      return std::vector<Tensor>{sum_to(ops::detail::fill_where(g[0], sm.get(), true, 0.0, g[0].shape()), x_shape)};
    });
  }
  return y;
}

/// Elementwise cond ? a : b, with cond (bool), a and b broadcast together.
inline Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b) {
  constexpr const char* op = "where";
  ops::detail::check_cpu(cond, op);
  ops::detail::check_cpu(a, op);
  ops::detail::check_cpu(b, op);
  const std::string shapes = fmt::format("condition shape {}, a shape {} {}, b shape {} {}", cond.shape().str(),
                                         a.shape().str(), name(a.dtype()), b.shape().str(), name(b.dtype()));
  ops::detail::check_bool_mask(cond, op, shapes);
  MOLM_CHECK(a.dtype() == b.dtype(), op, "a and b must share one dtype (convert one with .to()) ({})", shapes);
  const auto shape = ops::detail::broadcast_three(cond.shape(), a.shape(), b.shape());
  MOLM_CHECK(shape.has_value(), op, "the shapes cannot be broadcast together ({})", shapes);

  Tensor y = Tensor::empty(*shape, a.dtype(), a.device());
  backend::call<backend::Where>(a.device(), a.dtype(), cond, a, b, y);
  if (autograd::any_requires_grad({&a, &b})) {
    autograd::SavedTensor sc(cond, op);
    const bool ga = a.requires_grad(), gb = b.requires_grad();
    const Shape sa = a.shape(), sb = b.shape();
    autograd::record(op, {a, b}, {y}, [sc, ga, gb, sa, sb](const std::vector<Tensor>& g) {
      const Tensor& c = sc.get();
      const Shape& gs = g[0].shape();
      return std::vector<Tensor>{ga ? sum_to(ops::detail::fill_where(g[0], c, false, 0.0, gs), sa) : Tensor(),
                                 gb ? sum_to(ops::detail::fill_where(g[0], c, true, 0.0, gs), sb) : Tensor()};
    });
  }
  return y;
}

}  // namespace molm
