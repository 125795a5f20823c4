// Argument checks every op shares. Ops reach kernels only through backend::call
// (backend/registry.hpp). This header also brings in the default CPU backends, so that any program
// using an op has them registered (header-only: compiled here; MOLM_COMPILED: from the library).
#pragma once

#include "molm/backend/cpu/register.hpp"
#include "molm/backend/kernels.hpp"
#include "molm/tensor/tensor.hpp"

namespace molm::ops::detail {

inline void check_cpu(const Tensor& t, const char* op) {
  MOLM_CHECK(t.defined(), op, "got an undefined tensor");
  MOLM_CHECK(t.device().type == DeviceType::cpu, op, "tensor is on {}, expected cpu", t.device().str());
}

inline void check_same_dtype(const Tensor& a, const Tensor& b, const char* op) {
  MOLM_CHECK(a.dtype() == b.dtype(), op, "dtypes differ: {} {} vs {} {} (convert one with .to())", name(a.dtype()),
             a.shape().str(), name(b.dtype()), b.shape().str());
}

/// A new dense tensor of x's shape and dtype holding the unary map `op` of x; no history, no checks.
inline Tensor unary_kernel(backend::UnaryOp op, const Tensor& x, double s = 0.0) {
  Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device());
  backend::call<backend::Unary>(x.device(), x.dtype(), op, x, y, s);
  return y;
}

/// A new dense tensor of `dtype` and the broadcast shape holding `op` of a and b; no history.
inline Tensor binary_kernel(backend::BinaryOp op, const Tensor& a, const Tensor& b, DType dtype, const char* name_) {
  Tensor out = Tensor::empty(broadcast_shapes(a.shape(), b.shape(), name_), dtype, a.device());
  backend::call<backend::Binary>(a.device(), a.dtype(), op, a, b, out);
  return out;
}

}  // namespace molm::ops::detail
