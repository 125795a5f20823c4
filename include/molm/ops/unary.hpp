// Elementwise unary functions and their derivatives.
//
//   exp: dy·y        log: dy/x          sqrt: dy/(2y)        rsqrt: -dy·y³/2      pow(x,p): dy·p·x^(p-1)
//   tanh: dy(1-y²)   sigmoid: dy·y(1-y)  relu: dy·[x>0]     silu: dy·s(1+x(1-s)), s = σ(x)
//   gelu (erf):  y = x·Φ(x),                         dy·(Φ(x) + x·φ(x))
//   gelu (tanh): y = x/2·(1+tanh(u)), u = √(2/π)(x+0.044715x³)   (PyTorch approximate="tanh")
// Each backward is one fused elementwise pass over (dy, x or y).
#pragma once

#include "molm/backend/kernels.hpp"
#include "molm/ops/binary.hpp"

namespace molm {
namespace ops::detail {

/// A unary op: forward y = f(x) on the Unary kernel; backward on UnaryBackward with dy and the saved
/// tensor, x (UseOutput = false) or y. Floating dtypes only.
template <bool UseOutput>
Tensor unary_op(const Tensor& x, const char* op, backend::UnaryOp code, double s = 0.0) {
  check_cpu(x, op);
  MOLM_CHECK(is_floating(x.dtype()), op, "expects a floating-point tensor, got {}", name(x.dtype()));
  Tensor y = unary_kernel(code, x, s);
  if (autograd::any_requires_grad({&x})) {
    autograd::SavedTensor saved(UseOutput ? y : x, op);
    autograd::record(op, {x}, {y}, [saved, code, s](const std::vector<Tensor>& g) {
      const Tensor& v = saved.get();
      // The vectorised f32 GELU backward needs dense operands; the other maps take any strides.
      const Tensor dy = code == backend::UnaryOp::gelu ? g[0].contiguous() : g[0];
      Tensor dx = Tensor::empty(v.shape(), v.dtype(), v.device());
      backend::call<backend::UnaryBackward>(v.device(), v.dtype(), code, dy, v, dx, s);
      return std::vector<Tensor>{dx};
    });
  }
  return y;
}

}  // namespace ops::detail

inline Tensor exp(const Tensor& x) { return ops::detail::unary_op<true>(x, "exp", backend::UnaryOp::exp); }
inline Tensor log(const Tensor& x) { return ops::detail::unary_op<false>(x, "log", backend::UnaryOp::log); }
inline Tensor sqrt(const Tensor& x) { return ops::detail::unary_op<true>(x, "sqrt", backend::UnaryOp::sqrt); }
inline Tensor rsqrt(const Tensor& x) { return ops::detail::unary_op<true>(x, "rsqrt", backend::UnaryOp::rsqrt); }
/// x^p for a scalar exponent.
inline Tensor pow(const Tensor& x, double p) { return ops::detail::unary_op<false>(x, "pow", backend::UnaryOp::pow, p); }
inline Tensor tanh(const Tensor& x) { return ops::detail::unary_op<true>(x, "tanh", backend::UnaryOp::tanh); }
inline Tensor sigmoid(const Tensor& x) { return ops::detail::unary_op<true>(x, "sigmoid", backend::UnaryOp::sigmoid); }
inline Tensor relu(const Tensor& x) { return ops::detail::unary_op<false>(x, "relu", backend::UnaryOp::relu); }
/// x·σ(x) (Llama's activation).
inline Tensor silu(const Tensor& x) { return ops::detail::unary_op<false>(x, "silu", backend::UnaryOp::silu); }

enum class GeluApprox { none, tanh };

/// GELU, exact (erf) by default as BERT and Uni-Mol use; `tanh` matches PyTorch approximate="tanh".
/// Contiguous f32 runs on a vectorised kernel on the cpu backend (backend/cpu/kernels/gelu.hpp).
inline Tensor gelu(const Tensor& x, GeluApprox approx = GeluApprox::none) {
  if (approx == GeluApprox::none) return ops::detail::unary_op<false>(x, "gelu", backend::UnaryOp::gelu);
  return ops::detail::unary_op<false>(x, "gelu_tanh", backend::UnaryOp::gelu_tanh);
}

}  // namespace molm
