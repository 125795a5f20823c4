// Rotary position embedding as Hugging Face Llama applies it (transformers 4.35, rotate-half
// convention; reference-model.md §5.1), and the cos/sin tables of LlamaRotaryEmbedding.
//
//   rotate_half(x) = cat(−x2, x1)   (x1, x2: first and second half of the last dimension)
//   y  = x·cos + rotate_half(x)·sin
//   dx = dy·cos + rotate_halfᵀ(dy·sin),  rotate_halfᵀ = −rotate_half
//   dcos = Σ dy·x,  dsin = Σ dy·rotate_half(x)   (summed to their broadcast shapes; usually they
//                                                  are constants and these are skipped)
// One fused pass each way; no rotate_half temporary.
#pragma once

#include "molm/backend/kernels.hpp"
#include "molm/ops/binary.hpp"
#include "molm/ops/factory.hpp"

#include <cmath>

namespace molm {
namespace ops::detail {

/// out = x·cos + rotate_half(x)·sin (Backward = false) or its transpose applied to x (true).
template <bool Backward> Tensor rotary_apply(const Tensor& x, const Tensor& cos, const Tensor& sin) {
  Tensor out = Tensor::empty(x.shape(), x.dtype());
  MOLM_CHECK(is_floating(x.dtype()), "rotary_embedding", "expects a floating-point tensor, got {}", name(x.dtype()));
  if constexpr (Backward) backend::call<backend::RotaryBackward>(x.device(), x.dtype(), x, cos, sin, out);
  else backend::call<backend::RotaryForward>(x.device(), x.dtype(), x, cos, sin, out);
  return out;
}

/// cat(−x2, x1) over the last dimension, no history: the rotary map with cos = 0 and sin = 1.
inline Tensor rotate_half(const Tensor& x) {
  return rotary_apply<false>(x, zeros({1}, x.dtype()), ones({1}, x.dtype()));
}

}  // namespace ops::detail

/// x·cos + rotate_half(x)·sin for x [..., D] (D even; Llama: [B,H,T,D]) and cos, sin broadcastable
/// to x's shape ([T,D] from rotary_cos_sin of [T] positions, [B,1,T,D] from [B,T] positions).
/// All three share x's dtype. Differentiable in x, and in cos and sin when they require grad.
inline Tensor rotary_embedding(const Tensor& x, const Tensor& cos, const Tensor& sin) {
  constexpr const char* op = "rotary_embedding";
  ops::detail::check_cpu(x, op);
  ops::detail::check_cpu(cos, op);
  ops::detail::check_cpu(sin, op);
  MOLM_CHECK(x.dim() >= 1 && x.shape().back() % 2 == 0, op,
             "expects x [..., D] with an even D (it rotates the two halves), got x {}", x.shape().str());
  ops::detail::check_same_dtype(x, cos, op);
  ops::detail::check_same_dtype(x, sin, op);
  for (const Tensor* t : {&cos, &sin})
    MOLM_CHECK(t->dim() <= x.dim() && broadcast_shapes(t->shape(), x.shape(), op) == x.shape(), op,
               "{} {} does not broadcast to x {}", t == &cos ? "cos" : "sin", t->shape().str(), x.shape().str());
  Tensor y = ops::detail::rotary_apply<false>(x.detach(), cos.detach(), sin.detach());
  if (autograd::any_requires_grad({&x, &cos, &sin})) {
    const bool gx = x.requires_grad(), gc = cos.requires_grad(), gs = sin.requires_grad();
    autograd::SavedTensor sx(gc || gs ? x.detach() : Tensor(), op), sc(cos.detach(), op), ss(sin.detach(), op);
    autograd::record(op, {x, cos, sin}, {y}, [=](const std::vector<Tensor>& g) {
      const Tensor &c = sc.get(), &s = ss.get();
      return std::vector<Tensor>{
          gx ? ops::detail::rotary_apply<true>(g[0], c, s) : Tensor(),
          gc ? sum_to(mul(g[0], sx.get()), c.shape()).contiguous() : Tensor(),
          gs ? sum_to(mul(g[0], ops::detail::rotate_half(sx.get())), s.shape()).contiguous() : Tensor()};
    });
  }
  return y;
}

/// The cos and sin tables for rotary_embedding.
struct RotaryTables {
  Tensor cos;  ///< [T, dim] for positions [T]; [B, 1, T, dim] for positions [B, T]
  Tensor sin;
};

/// cos/sin of position·θ_i exactly as HF LlamaRotaryEmbedding (transformers 4.35) computes them:
/// θ_i = 1 / base^(2i/dim) for i < dim/2, evaluated in float32; freqs = t·θ (float32);
/// emb = cat(freqs, freqs); cos(emb), sin(emb) in float32, then converted to `dtype`.
/// `positions`: i64 or i32, [T] or [B, T] (HF position_ids; the [B,T] result has the head axis
/// HF's unsqueeze(1) adds).
inline RotaryTables rotary_cos_sin(const Tensor& positions, std::int64_t dim, double base = 10000.0,
                                   DType dtype = DType::f32) {
  constexpr const char* op = "rotary_cos_sin";
  ops::detail::check_cpu(positions, op);
  MOLM_CHECK(dim > 0 && dim % 2 == 0, op, "dim must be positive and even, got {} (positions {})", dim,
             positions.shape().str());
  MOLM_CHECK(positions.dtype() == DType::i64 || positions.dtype() == DType::i32, op,
             "positions must be i64 or i32, got {} {}", name(positions.dtype()), positions.shape().str());
  MOLM_CHECK(positions.dim() == 1 || positions.dim() == 2, op, "positions must be [T] or [B,T], got {}",
             positions.shape().str());
  MOLM_CHECK(is_floating(dtype), op, "dtype must be floating, got {}", name(dtype));
  MOLM_CHECK(base > 0, op, "base must be positive, got {}", base);
  const std::int64_t half = dim / 2;
  // θ_i: torch computes base ** (arange(0,dim,2).float() / dim) as a correctly rounded float32
  // pow, then the float32 reciprocal.
  std::vector<float> inv_freq(static_cast<std::size_t>(half));
  const float fbase = static_cast<float>(base);
  for (std::int64_t i = 0; i < half; ++i) {
    const float e = static_cast<float>(2 * i) / static_cast<float>(dim);
    inv_freq[i] = 1.0f / static_cast<float>(std::pow(static_cast<double>(fbase), static_cast<double>(e)));
  }
  const Tensor pos = positions.to(DType::i64).contiguous();
  const std::int64_t* pp = pos.data<std::int64_t>();
  const std::int64_t n = pos.numel();
  Tensor c = Tensor::empty({n, dim}, DType::f32), s = Tensor::empty({n, dim}, DType::f32);
  float *pc = c.data<float>(), *ps = s.data<float>();
  for (std::int64_t r = 0; r < n; ++r)
    for (std::int64_t i = 0; i < half; ++i) {
      const float f = static_cast<float>(pp[r]) * inv_freq[i];  // float32 product, as torch's einsum
      // cos/sin of the float32 angle, rounded once (torch's float32 cos is within 1 ulp of this).
      const float cv = static_cast<float>(std::cos(static_cast<double>(f)));
      const float sv = static_cast<float>(std::sin(static_cast<double>(f)));
      pc[r * dim + i] = pc[r * dim + half + i] = cv;
      ps[r * dim + i] = ps[r * dim + half + i] = sv;
    }
  Shape out = positions.dim() == 1 ? Shape{n, dim} : Shape{positions.shape()[0], 1, positions.shape()[1], dim};
  return {c.view(out).to(dtype), s.view(out).to(dtype)};
}

}  // namespace molm
