// Broadcasting binary arithmetic (add, sub, mul, div, with tensors or scalars), comparisons, and
// the C++ operators for them.
//
//   y = a + b: da = sum_to(dy, a)        db = sum_to(dy, b)
//   y = a - b: da = sum_to(dy, a)        db = -sum_to(dy, b)
//   y = a * b: da = sum_to(dy * b, a)    db = sum_to(dy * a, b)
//   y = a / b: da = sum_to(dy / b, a)    db = -sum_to(dy * a / b², b)
// Both operands must have the same dtype: molm never promotes silently (use .to()). The one
// exception is autocast's (autograd/autocast.hpp): inside a bf16 autocast scope an f32 and a bf16
// operand of add, sub, mul or div meet in f32, as torch's type promotion has them.
#pragma once

#include "molm/autograd/autocast.hpp"
#include "molm/ops/map.hpp"
#include "molm/ops/reduce.hpp"
#include "molm/ops/view.hpp"

namespace molm {
namespace ops::detail {

/// Elementwise `op` of a and b with broadcasting; result dtype = input dtype (bool for comparisons).
inline Tensor binary_map(const Tensor& a, const Tensor& b, const char* name_, backend::BinaryOp op,
                         bool compare = false) {
  check_cpu(a, name_);
  check_cpu(b, name_);
  check_same_dtype(a, b, name_);
  return binary_kernel(op, a, b, compare ? DType::boolean : a.dtype(), name_);
}

/// Elementwise `op` of x with a scalar, result dtype = input dtype.
inline Tensor scalar_map(const Tensor& x, const char* name_, backend::UnaryOp op, double s = 0.0) {
  check_cpu(x, name_);
  return unary_kernel(op, x, s);
}

}  // namespace ops::detail

inline Tensor neg(const Tensor& x);

inline Tensor add(const Tensor& a, const Tensor& b) {
  if (autograd::autocast_promotes(a.dtype(), b.dtype())) return add(a.to(DType::f32), b.to(DType::f32));
  Tensor y = ops::detail::binary_map(a, b, "add", backend::BinaryOp::add);
  if (autograd::any_requires_grad({&a, &b})) {
    Shape sa = a.shape(), sb = b.shape();
    autograd::record("add", {a, b}, {y}, [sa, sb](const std::vector<Tensor>& g) {
      return std::vector<Tensor>{sum_to(g[0], sa), sum_to(g[0], sb)};
    });
  }
  return y;
}

inline Tensor sub(const Tensor& a, const Tensor& b) {
  if (autograd::autocast_promotes(a.dtype(), b.dtype())) return sub(a.to(DType::f32), b.to(DType::f32));
  Tensor y = ops::detail::binary_map(a, b, "sub", backend::BinaryOp::sub);
  if (autograd::any_requires_grad({&a, &b})) {
    Shape sa = a.shape(), sb = b.shape();
    autograd::record("sub", {a, b}, {y}, [sa, sb](const std::vector<Tensor>& g) {
      return std::vector<Tensor>{sum_to(g[0], sa), neg(sum_to(g[0], sb))};
    });
  }
  return y;
}

inline Tensor mul(const Tensor& a, const Tensor& b) {
  if (autograd::autocast_promotes(a.dtype(), b.dtype())) return mul(a.to(DType::f32), b.to(DType::f32));
  Tensor y = ops::detail::binary_map(a, b, "mul", backend::BinaryOp::mul);
  if (autograd::any_requires_grad({&a, &b})) {
    const bool ga = a.requires_grad(), gb = b.requires_grad();
    autograd::SavedTensor sa(gb ? a : Tensor(), "mul"), sb(ga ? b : Tensor(), "mul");
    Shape sha = a.shape(), shb = b.shape();
    autograd::record("mul", {a, b}, {y}, [=](const std::vector<Tensor>& g) {
      return std::vector<Tensor>{ga ? sum_to(mul(g[0], sb.get()), sha) : Tensor(),
                                 gb ? sum_to(mul(g[0], sa.get()), shb) : Tensor()};
    });
  }
  return y;
}

inline Tensor div(const Tensor& a, const Tensor& b) {
  if (autograd::autocast_promotes(a.dtype(), b.dtype())) return div(a.to(DType::f32), b.to(DType::f32));
  MOLM_CHECK(is_floating(a.dtype()), "div", "needs floating tensors, got {} {} and {} {}", name(a.dtype()),
             a.shape().str(), name(b.dtype()), b.shape().str());
  Tensor y = ops::detail::binary_map(a, b, "div", backend::BinaryOp::div);
  if (autograd::any_requires_grad({&a, &b})) {
    const bool ga = a.requires_grad(), gb = b.requires_grad();
    autograd::SavedTensor sb(b, "div"), sy(gb ? y : Tensor(), "div");
    Shape sha = a.shape(), shb = b.shape();
    autograd::record("div", {a, b}, {y}, [=](const std::vector<Tensor>& g) {
      Tensor ga_ = div(g[0], sb.get());  // dy / b
      // d(a/b)/db = -(a/b)/b = -y/b
      return std::vector<Tensor>{ga ? sum_to(ga_, sha) : Tensor(),
                                 gb ? neg(sum_to(mul(ga_, sy.get()), shb)) : Tensor()};
    });
  }
  return y;
}

// ---- with a scalar --------------------------------------------------------------------------------

inline Tensor add(const Tensor& x, double s) {
  Tensor y = ops::detail::scalar_map(x, "add", backend::UnaryOp::add_scalar, s);
  if (autograd::any_requires_grad({&x}))
    autograd::record("add_scalar", {x}, {y}, [](const std::vector<Tensor>& g) { return std::vector<Tensor>{g[0]}; });
  return y;
}

inline Tensor mul(const Tensor& x, double s) {
  Tensor y = ops::detail::scalar_map(x, "mul", backend::UnaryOp::mul_scalar, s);
  if (autograd::any_requires_grad({&x}))
    autograd::record("mul_scalar", {x}, {y}, [s](const std::vector<Tensor>& g) {
      return std::vector<Tensor>{mul(g[0], s)};
    });
  return y;
}

inline Tensor neg(const Tensor& x) {
  Tensor y = ops::detail::scalar_map(x, "neg", backend::UnaryOp::neg);
  if (autograd::any_requires_grad({&x}))
    autograd::record("neg", {x}, {y}, [](const std::vector<Tensor>& g) { return std::vector<Tensor>{neg(g[0])}; });
  return y;
}

/// s - x
inline Tensor rsub(const Tensor& x, double s) { return add(neg(x), s); }

/// s / x, with d/dx = -s / x² = -y / x.
inline Tensor rdiv(double s, const Tensor& x) {
  Tensor y = ops::detail::scalar_map(x, "rdiv", backend::UnaryOp::rdiv_scalar, s);
  if (autograd::any_requires_grad({&x})) {
    autograd::SavedTensor sx(x, "rdiv"), sy(y, "rdiv");
    autograd::record("rdiv", {x}, {y}, [sx, sy](const std::vector<Tensor>& g) {
      return std::vector<Tensor>{neg(div(mul(g[0], sy.get()), sx.get()))};
    });
  }
  return y;
}

// ---- comparisons (no gradient; bool result) ---------------------------------------------------------

inline Tensor eq(const Tensor& a, const Tensor& b) {
  return ops::detail::binary_map(a, b, "eq", backend::BinaryOp::eq, true);
}
inline Tensor ne(const Tensor& a, const Tensor& b) {
  return ops::detail::binary_map(a, b, "ne", backend::BinaryOp::ne, true);
}
inline Tensor lt(const Tensor& a, const Tensor& b) {
  return ops::detail::binary_map(a, b, "lt", backend::BinaryOp::lt, true);
}
inline Tensor le(const Tensor& a, const Tensor& b) {
  return ops::detail::binary_map(a, b, "le", backend::BinaryOp::le, true);
}
inline Tensor gt(const Tensor& a, const Tensor& b) {
  return ops::detail::binary_map(a, b, "gt", backend::BinaryOp::gt, true);
}
inline Tensor ge(const Tensor& a, const Tensor& b) {
  return ops::detail::binary_map(a, b, "ge", backend::BinaryOp::ge, true);
}

// ---- operators ------------------------------------------------------------------------------------

inline Tensor operator+(const Tensor& a, const Tensor& b) { return add(a, b); }
inline Tensor operator-(const Tensor& a, const Tensor& b) { return sub(a, b); }
inline Tensor operator*(const Tensor& a, const Tensor& b) { return mul(a, b); }
inline Tensor operator/(const Tensor& a, const Tensor& b) { return div(a, b); }
inline Tensor operator-(const Tensor& x) { return neg(x); }
inline Tensor operator+(const Tensor& a, double s) { return add(a, s); }
inline Tensor operator+(double s, const Tensor& a) { return add(a, s); }
inline Tensor operator-(const Tensor& a, double s) { return add(a, -s); }
inline Tensor operator-(double s, const Tensor& a) { return rsub(a, s); }
inline Tensor operator*(const Tensor& a, double s) { return mul(a, s); }
inline Tensor operator*(double s, const Tensor& a) { return mul(a, s); }
inline Tensor operator/(const Tensor& a, double s) { return mul(a, 1.0 / s); }
inline Tensor operator/(double s, const Tensor& a) { return rdiv(s, a); }

}  // namespace molm
