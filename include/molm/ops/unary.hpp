// Elementwise unary functions and their derivatives.
//
//   exp: dy·y        log: dy/x          sqrt: dy/(2y)        rsqrt: -dy·y³/2      pow(x,p): dy·p·x^(p-1)
//   tanh: dy(1-y²)   sigmoid: dy·y(1-y)  relu: dy·[x>0]     silu: dy·s(1+x(1-s)), s = σ(x)
//   gelu (erf):  y = x·Φ(x),                         dy·(Φ(x) + x·φ(x))
//   gelu (tanh): y = x/2·(1+tanh(u)), u = √(2/π)(x+0.044715x³)   (PyTorch approximate="tanh")
// Each backward is one fused elementwise pass over (dy, x or y).
#pragma once

#include "molm/backend/cpu/kernels/gelu.hpp"
#include "molm/backend/dispatch.hpp"
#include "molm/ops/binary.hpp"

#include <cmath>

namespace molm {
namespace ops::detail {

/// A unary op: forward f(x); backward df(dy, saved) where saved is x (UseOutput=false) or y.
template <bool UseOutput, class F, class DF>
Tensor unary_op(const Tensor& x, const char* op, F f, DF df) {
  check_cpu(x, op);
  Tensor y = visit_floating(x.dtype(), op, [&](auto tag) {
    using T = typename decltype(tag)::type;
    return map<T, T>(x.shape(), f, x);
  });
  if (autograd::any_requires_grad({&x})) {
    autograd::SavedTensor saved(UseOutput ? y : x, op);
    autograd::record(op, {x}, {y}, [saved, df, op](const std::vector<Tensor>& g) {
      const Tensor& s = saved.get();
      return std::vector<Tensor>{visit_floating(s.dtype(), op, [&](auto tag) {
        using T = typename decltype(tag)::type;
        return map<T, T, T>(s.shape(), df, g[0], s);
      })};
    });
  }
  return y;
}

template <class A> A normal_cdf(A x) { return A(0.5) * (A(1) + std::erf(x * A(0.70710678118654752440))); }
template <class A> A normal_pdf(A x) { return A(0.39894228040143267794) * std::exp(A(-0.5) * x * x); }
template <class A> A sigmoid_of(A x) { return A(1) / (A(1) + std::exp(-x)); }

}  // namespace ops::detail

inline Tensor exp(const Tensor& x) {
  return ops::detail::unary_op<true>(x, "exp", [](auto v) { return std::exp(v); },
                                     [](auto dy, auto y) { return dy * y; });
}

inline Tensor log(const Tensor& x) {
  return ops::detail::unary_op<false>(x, "log", [](auto v) { return std::log(v); },
                                      [](auto dy, auto v) { return dy / v; });
}

inline Tensor sqrt(const Tensor& x) {
  return ops::detail::unary_op<true>(x, "sqrt", [](auto v) { return std::sqrt(v); },
                                     [](auto dy, auto y) { return dy / (y + y); });
}

inline Tensor rsqrt(const Tensor& x) {
  return ops::detail::unary_op<true>(x, "rsqrt", [](auto v) { return decltype(v)(1) / std::sqrt(v); },
                                     [](auto dy, auto y) { return decltype(y)(-0.5) * dy * y * y * y; });
}

/// x^p for a scalar exponent.
inline Tensor pow(const Tensor& x, double p) {
  return ops::detail::unary_op<false>(
      x, "pow", [p](auto v) { return std::pow(v, static_cast<decltype(v)>(p)); },
      [p](auto dy, auto v) {
        using A = decltype(v);
        return p == 0.0 ? A(0) : dy * static_cast<A>(p) * std::pow(v, static_cast<A>(p - 1.0));
      });
}

inline Tensor tanh(const Tensor& x) {
  return ops::detail::unary_op<true>(x, "tanh", [](auto v) { return std::tanh(v); },
                                     [](auto dy, auto y) { return dy * (decltype(y)(1) - y * y); });
}

inline Tensor sigmoid(const Tensor& x) {
  return ops::detail::unary_op<true>(x, "sigmoid", [](auto v) { return ops::detail::sigmoid_of(v); },
                                     [](auto dy, auto y) { return dy * y * (decltype(y)(1) - y); });
}

inline Tensor relu(const Tensor& x) {
  return ops::detail::unary_op<false>(x, "relu", [](auto v) { return v > decltype(v)(0) ? v : decltype(v)(0); },
                                      [](auto dy, auto v) { return v > decltype(v)(0) ? dy : decltype(dy)(0); });
}

/// x·σ(x) (Llama's activation).
inline Tensor silu(const Tensor& x) {
  return ops::detail::unary_op<false>(
      x, "silu", [](auto v) { return v * ops::detail::sigmoid_of(v); },
      [](auto dy, auto v) {
        const auto s = ops::detail::sigmoid_of(v);
        return dy * s * (decltype(v)(1) + v * (decltype(v)(1) - s));
      });
}

enum class GeluApprox { none, tanh };

/// GELU, exact (erf) by default as BERT and Uni-Mol use; `tanh` matches PyTorch approximate="tanh".
inline Tensor gelu(const Tensor& x, GeluApprox approx = GeluApprox::none) {
  // Contiguous float: the vectorised kernel (backend/cpu/kernels/gelu.hpp). The generic map below is
  // the reference and serves every other dtype and layout.
  if (approx == GeluApprox::none && x.dtype() == DType::f32 && x.is_contiguous() && !backend::use_reference()) {
    ops::detail::check_cpu(x, "gelu");
    Tensor y = Tensor::empty(x.shape(), DType::f32);
    backend::gelu_forward_f32(x.data<float>(), y.data<float>(), x.numel());
    if (autograd::any_requires_grad({&x})) {
      autograd::SavedTensor saved(x, "gelu");
      autograd::record("gelu", {x}, {y}, [saved](const std::vector<Tensor>& g) {
        const Tensor& xs = saved.get();
        const Tensor dy = g[0].contiguous();
        Tensor dx = Tensor::empty(xs.shape(), DType::f32);
        backend::gelu_backward_f32(dy.data<float>(), xs.data<float>(), dx.data<float>(), xs.numel());
        return std::vector<Tensor>{dx};
      });
    }
    return y;
  }
  if (approx == GeluApprox::none)
    return ops::detail::unary_op<false>(
        x, "gelu", [](auto v) { return v * ops::detail::normal_cdf(v); },
        [](auto dy, auto v) { return dy * (ops::detail::normal_cdf(v) + v * ops::detail::normal_pdf(v)); });
  return ops::detail::unary_op<false>(
      x, "gelu_tanh",
      [](auto v) {
        using A = decltype(v);
        const A k = A(0.79788456080286535588), c = A(0.044715);
        return A(0.5) * v * (A(1) + std::tanh(k * (v + c * v * v * v)));
      },
      [](auto dy, auto v) {
        using A = decltype(v);
        const A k = A(0.79788456080286535588), c = A(0.044715);
        const A t = std::tanh(k * (v + c * v * v * v));
        const A du = k * (A(1) + A(3) * c * v * v);
        return dy * (A(0.5) * (A(1) + t) + A(0.5) * v * (A(1) - t * t) * du);
      });
}

}  // namespace molm
