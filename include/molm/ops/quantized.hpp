// Weight-only int8 linear layers for inference (backend/cpu/kernels/quantized.hpp): a weight
// W [N, K] becomes blocks of 32 int8 values with one f32 scale each (llama.cpp's Q8_0 layout with
// f32 scales), ~1.13 bytes a weight.
//
//   const Q8Weight q = quantize_q8(linear.weight);   // f32, bf16 or f16 weight
//   Tensor y = linear_q8(x, q);                                 // x [..., K] f32 or bf16 → [..., N]
//
// No gradient: linear_q8 refuses inputs that require grad (train on the floating weights).
#pragma once

#include "molm/backend/kernels.hpp"
#include "molm/ops/linalg.hpp"

namespace molm {

struct Q8Weight {
  Tensor q;       ///< u8 [N, K]: int8 values in two's complement
  Tensor scales;  ///< f32 [N, ceil(K / 32)]
  std::int64_t out_features() const { return q.shape()[0]; }
  std::int64_t in_features() const { return q.shape()[1]; }
  std::uint64_t nbytes() const { return static_cast<std::uint64_t>(q.numel()) + 4u * static_cast<std::uint64_t>(scales.numel()); }
};

inline Q8Weight quantize_q8(const Tensor& w) {
  constexpr const char* op = "quantize_q8";
  ops::detail::check_cpu(w, op);
  MOLM_CHECK(w.dim() == 2 && is_floating(w.dtype()), op, "expects a floating weight [N, K], got {} {}",
             name(w.dtype()), w.shape().str());
  const std::int64_t N = w.shape()[0], K = w.shape()[1];
  Q8Weight r{Tensor::empty({N, K}, DType::u8), Tensor::empty({N, (K + backend::kQ8BlockSize - 1) / backend::kQ8BlockSize}, DType::f32)};
  backend::call<backend::QuantizeQ8>(w.device(), w.dtype(), w.contiguous(), r.q, r.scales);
  return r;
}

/// x [..., K] (f32 or bf16) · Wᵀ + bias, W given as its Q8Weight; bias f32 [N] or undefined. The
/// result has x's dtype.
inline Tensor linear_q8(const Tensor& x, const Q8Weight& w, const Tensor& bias = {}) {
  constexpr const char* op = "linear_q8";
  ops::detail::check_cpu(x, op);
  MOLM_CHECK(!(autograd::grad_enabled() && x.requires_grad()), op,
             "int8 weights are for inference: no gradient flows through linear_q8 (x requires grad)");
  MOLM_CHECK(x.dtype() == DType::f32 || x.dtype() == DType::bf16, op, "expects f32 or bf16 x, got {}", name(x.dtype()));
  const std::int64_t K = w.in_features(), N = w.out_features();
  MOLM_CHECK(x.dim() >= 1 && x.shape().back() == K, op, "x {} does not have the weight's {} input features",
             x.shape().str(), K);
  Tensor b;
  if (bias.defined()) {
    MOLM_CHECK(bias.dim() == 1 && bias.shape()[0] == N, op, "bias {} does not match {} outputs", bias.shape().str(), N);
    b = bias.to(DType::f32).contiguous();
  }
  Shape out_shape = x.shape();
  out_shape[out_shape.size() - 1] = N;
  const Tensor x2 = ops::detail::flatten_to_rows(x, K).contiguous();
  Tensor y = Tensor::empty({x2.shape()[0], N}, x.dtype());
  backend::call<backend::LinearQ8>(x.device(), x.dtype(), x2, w.q, w.scales, b, y);
  return y.reshape(out_shape);
}

}  // namespace molm
