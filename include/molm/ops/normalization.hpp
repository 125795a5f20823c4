// layer_norm and rms_norm over the last dimension (C), with optional per-channel weight/bias [C].
//
// layer_norm (PyTorch semantics, biased variance):
//   μ = mean(x),  r = 1/sqrt(mean((x − μ)²) + eps),  x̂ = (x − μ)·r,  y = x̂·w + b
//   dx = r · (g − mean(g) − x̂ · mean(g·x̂)),  g = dy·w;   dw = Σ_rows dy·x̂;   db = Σ_rows dy
// rms_norm (HF LlamaRMSNorm semantics):
//   r = 1/sqrt(mean(x²) + eps),  h = x·r,  y = w · T(h)
//   dx = r · (g − h · mean(g·h)),  g = dy·w;   dw = Σ_rows dy·T(h)
// T(h) is h rounded to the input dtype: HF computes h in float32, casts it back to the input dtype,
// and only then multiplies by the weight, so a bf16 model rounds twice; we do the same. (For f64
// input, HF would compute in float32; we stay in double.) Rounding is treated as identity in
// backward, as autograd does for a dtype cast.
// Row statistics use acc_t<T> (float for f32/bf16/f16, double for f64); dw and db sum over rows
// in double. Only the statistics (mean, rstd) are saved for backward, besides x and w.
#pragma once

#include "molm/backend/kernels.hpp"
#include "molm/ops/binary.hpp"
#include "molm/ops/reduce.hpp"
#include "molm/ops/select.hpp"
#include "molm/ops/unary.hpp"

namespace molm {
namespace ops::detail {

/// x is a ≥1-d floating tensor; weight and bias, when given, are [C] with x's dtype.
inline void check_norm_args(const Tensor& x, const Tensor& weight, const Tensor& bias, double eps, const char* op) {
  check_cpu(x, op);
  MOLM_CHECK(is_floating(x.dtype()), op, "expects a floating-point tensor, got {} {}", name(x.dtype()),
             x.shape().str());
  MOLM_CHECK(x.dim() >= 1, op, "normalises the last dimension and needs at least a 1-d tensor, got shape {}",
             x.shape().str());
  MOLM_CHECK(eps >= 0.0, op, "eps must be non-negative, got {}", eps);
  const Shape channels{x.shape().back()};
  for (const Tensor* p : {&weight, &bias}) {
    if (!p->defined()) continue;
    check_cpu(*p, op);
    const char* what = p == &weight ? "weight" : "bias";
    MOLM_CHECK(p->shape() == channels, op, "{} of shape {} does not match the last dimension of the input {} (expected {})",
               what, p->shape().str(), x.shape().str(), channels.str());
    check_same_dtype(x, *p, op);
  }
}

/// Shape of the per-row statistics: x's shape without its last dimension.
inline Shape row_stats_shape(const Tensor& x) {
  Shape s = x.shape();
  s.erase(s.size() - 1);
  return s;
}

/// A buffer for a gradient of `shape`, or undefined when that gradient is not needed.
inline Tensor grad_buffer(bool needed, const Shape& shape, DType dtype) {
  return needed ? Tensor::empty(shape, dtype) : Tensor();
}

inline bool wants_grad(const Tensor& t) { return t.defined() && t.requires_grad(); }

}  // namespace ops::detail

/// LayerNorm over the last dimension; `weight` and `bias` ([C]) may be undefined Tensor{}.
inline Tensor layer_norm(const Tensor& x, const Tensor& weight = {}, const Tensor& bias = {}, double eps = 1e-5) {
  constexpr const char* op = "layer_norm";
  if (weight.defined() && autograd::autocast_widens(x.dtype(), weight.dtype()))  // autocast: f32 maths, bf16 out
    return layer_norm(x.to(DType::f32), weight, bias, eps).to(DType::bf16);
  ops::detail::check_norm_args(x, weight, bias, eps, op);
  Tensor y = Tensor::empty(x.shape(), x.dtype());
  const DType sd = acc_dtype(x.dtype());
  Tensor mean = Tensor::empty(ops::detail::row_stats_shape(x), sd), rstd = Tensor::empty(mean.shape(), sd);
  backend::call<backend::LayerNormForward>(x.device(), x.dtype(), x, weight, bias, eps, y, mean, rstd);
  if (autograd::any_requires_grad({&x, &weight, &bias})) {
    autograd::SavedTensor sx(x, op), sw(weight, op), smean(mean, op), srstd(rstd, op);
    const bool need_dx = x.requires_grad(), need_dw = ops::detail::wants_grad(weight),
               need_db = ops::detail::wants_grad(bias);
    autograd::record(op, {x, weight, bias}, {y}, [=](const std::vector<Tensor>& g) {
      const Tensor& xv = sx.get();
      const Shape channels{xv.shape().back()};
      Tensor dx = ops::detail::grad_buffer(need_dx, xv.shape(), xv.dtype());
      Tensor dw = ops::detail::grad_buffer(need_dw, channels, xv.dtype());
      Tensor db = ops::detail::grad_buffer(need_db, channels, xv.dtype());
      backend::call<backend::LayerNormBackward>(xv.device(), xv.dtype(), g[0], xv, sw.get(), smean.get(), srstd.get(),
                                                dx, dw, db);
      return std::vector<Tensor>{dx, dw, db};
    });
  }
  return y;
}

/// RMSNorm over the last dimension (Llama); `weight` ([C]) may be undefined Tensor{}.
inline Tensor rms_norm(const Tensor& x, const Tensor& weight = {}, double eps = 1e-6) {
  constexpr const char* op = "rms_norm";
  ops::detail::check_norm_args(x, weight, Tensor(), eps, op);
  Tensor y = Tensor::empty(x.shape(), x.dtype());
  Tensor rstd = Tensor::empty(ops::detail::row_stats_shape(x), acc_dtype(x.dtype()));
  backend::call<backend::RmsNormForward>(x.device(), x.dtype(), x, weight, eps, y, rstd);
  if (autograd::any_requires_grad({&x, &weight})) {
    autograd::SavedTensor sx(x, op), sw(weight, op), srstd(rstd, op);
    const bool need_dx = x.requires_grad(), need_dw = ops::detail::wants_grad(weight);
    autograd::record(op, {x, weight}, {y}, [=](const std::vector<Tensor>& g) {
      const Tensor& xv = sx.get();
      Tensor dx = ops::detail::grad_buffer(need_dx, xv.shape(), xv.dtype());
      Tensor dw = ops::detail::grad_buffer(need_dw, Shape{xv.shape().back()}, xv.dtype());
      backend::call<backend::RmsNormBackward>(xv.device(), xv.dtype(), g[0], xv, sw.get(), srstd.get(), dx, dw);
      return std::vector<Tensor>{dx, dw};
    });
  }
  return y;
}

/// x / max(‖x‖₂, eps) along the last dimension: torch.nn.functional.normalize(x, p=2, dim=-1).
/// A composite of differentiable ops; below eps the denominator is the constant eps (gradient 0
/// through the norm, as clamp_min). An all-zero row has a NaN gradient (torch special-cases it).
inline Tensor normalize(const Tensor& x, double eps = 1e-12) {
  const Tensor norm = sqrt(sum(x * x, {-1}, true));
  return x / masked_fill(norm, lt(norm, scalar_tensor(eps, norm.dtype())), eps);
}

}  // namespace molm
