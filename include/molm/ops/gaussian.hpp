// Uni-Mol's Gaussian basis kernel (GaussianLayer; reference-model.md §2.4 steps 1–2): the distance
// of every atom pair, affinely transformed per edge type, expanded on K Gaussians. Its output goes
// through gbf_proj to become the first layer's attention bias.
//
//   x = mul[e]·d + bias[e];  g_k = exp(−((x − μ_k)/s_k)²/2) / (sqrt(2·3.14159)·s_k),  s_k = |stds_k| + 1e-5
//
// computed in float32 and stored in the parameters' dtype (double only when everything is f64).
// Fused forward; fused backward for dist, means, stds, mul and bias. The per-element maths and its
// derivatives are written out in backend/cpu/reference/gaussian.hpp.
#pragma once

#include "molm/backend/kernels.hpp"
#include "molm/ops/map.hpp"
#include "molm/ops/view.hpp"

namespace molm {
namespace ops::detail {

/// Check shapes, dtypes and edge-type range; describe the call with dense, history-free tensors.
inline backend::GaussianBasisProblem gaussian_basis_problem(const Tensor& dist, const Tensor& edge_type,
                                                            const Tensor& means, const Tensor& stds,
                                                            const Tensor& mul, const Tensor& bias) {
  constexpr const char* op = "gaussian_basis";
  for (const Tensor* t : {&dist, &edge_type, &means, &stds, &mul, &bias}) check_cpu(*t, op);
  MOLM_CHECK(is_floating(dist.dtype()), op, "dist must be floating, got {} {}", name(dist.dtype()),
             dist.shape().str());
  MOLM_CHECK(dist.dim() < kMaxDims, op, "dist {} has too many dimensions (the output adds one)", dist.shape().str());
  MOLM_CHECK(edge_type.dtype() == DType::i64 || edge_type.dtype() == DType::i32, op,
             "edge_type must be i64 or i32, got {} {}", name(edge_type.dtype()), edge_type.shape().str());
  MOLM_CHECK(edge_type.shape() == dist.shape(), op, "edge_type {} and dist {} must have the same shape",
             edge_type.shape().str(), dist.shape().str());
  MOLM_CHECK(is_floating(means.dtype()), op, "means must be floating, got {} {}", name(means.dtype()),
             means.shape().str());
  for (const Tensor* t : {&stds, &mul, &bias}) check_same_dtype(means, *t, op);
  // Uni-Mol stores means/stds as Embedding(1, K) weights [1,K] and mul/bias as Embedding(E, 1) [E,1].
  auto is_row = [](const Shape& s) { return s.size() == 1 || (s.size() == 2 && s[0] == 1); };
  auto is_col = [](const Shape& s) { return s.size() == 1 || (s.size() == 2 && s[1] == 1); };
  MOLM_CHECK(is_row(means.shape()) && stds.shape() == means.shape() && means.numel() > 0, op,
             "means and stds must both be [1,K] (or [K]) with K > 0, got means {} and stds {}", means.shape().str(),
             stds.shape().str());
  MOLM_CHECK(is_col(mul.shape()) && bias.shape() == mul.shape() && mul.numel() > 0, op,
             "mul and bias must both be [E,1] (or [E]) with E > 0, got mul {} and bias {}", mul.shape().str(),
             bias.shape().str());

  backend::GaussianBasisProblem p;
  p.pairs = dist.numel();
  p.K = means.numel();
  p.E = mul.numel();
  p.dist = dist.detach().contiguous();
  p.edge_type = edge_type.detach().to(DType::i64).contiguous();
  p.means = means.detach().contiguous();
  p.stds = stds.detach().contiguous();
  p.mul = mul.detach().contiguous();
  p.bias = bias.detach().contiguous();
  const std::int64_t* e = p.edge_type.data<std::int64_t>();
  for (std::int64_t i = 0; i < p.pairs; ++i)
    MOLM_CHECK(e[i] >= 0 && e[i] < p.E, op,
               "edge type {} at flat index {} is outside [0, {}) (edge_type {}, mul {}); the number of edge "
               "types is mul's first dimension",
               e[i], i, p.E, edge_type.shape().str(), mul.shape().str());
  return p;
}

/// dist and the parameters must be floating (each may be any floating dtype).
inline void check_gaussian_types(DType dist, DType params) {
  for (DType d : {dist, params})
    MOLM_CHECK(is_floating(d), "gaussian_basis", "expects a floating-point tensor, got {}", name(d));
}

}  // namespace ops::detail

/// Gaussian basis features [..., K] of dist [...] (Uni-Mol: [B,N,N]) with edge_type [...] (i64/i32,
/// values in [0,E)), means, stds [1,K] and mul, bias [E,1] (one floating dtype; the output's).
/// Differentiable in dist, means, stds, mul and bias.
inline Tensor gaussian_basis(const Tensor& dist, const Tensor& edge_type, const Tensor& means, const Tensor& stds,
                             const Tensor& mul, const Tensor& bias) {
  constexpr const char* op = "gaussian_basis";
  backend::GaussianBasisProblem p = ops::detail::gaussian_basis_problem(dist, edge_type, means, stds, mul, bias);
  Shape out_shape = dist.shape();
  out_shape.push_back(p.K);
  Tensor out = Tensor::empty(out_shape, means.dtype());
  ops::detail::check_gaussian_types(dist.dtype(), means.dtype());
  backend::call<backend::GaussianBasisForward>(dist.device(), dist.dtype(), p, out);
  if (!autograd::any_requires_grad({&dist, &means, &stds, &mul, &bias})) return out;

  // Backward recomputes g from the inputs rather than keeping the [.., K] output.
  const bool gd = dist.requires_grad(), gm = means.requires_grad(), gs = stds.requires_grad(),
             gmul = mul.requires_grad(), gb = bias.requires_grad();
  const Shape dist_shape = dist.shape(), param_shape = means.shape(), edge_shape = mul.shape();
  autograd::SavedTensor sd(p.dist, op), se(p.edge_type, op), smu(p.means, op), ss(p.stds, op), smul(p.mul, op),
      sb(p.bias, op);
  const std::int64_t pairs = p.pairs, K = p.K, E = p.E;
  autograd::record(op, {dist, means, stds, mul, bias}, {out}, [=](const std::vector<Tensor>& g) {
    backend::GaussianBasisProblem pb{sd.get(), se.get(), smu.get(), ss.get(), smul.get(), sb.get(), pairs, K, E};
    const DType dd = pb.dist.dtype(), dp = pb.means.dtype();
    backend::GaussianBasisGrads grads{gd ? Tensor::empty(dist_shape, dd) : Tensor(),
                                      gm ? Tensor::empty(param_shape, dp) : Tensor(),
                                      gs ? Tensor::empty(param_shape, dp) : Tensor(),
                                      gmul ? Tensor::empty(edge_shape, dp) : Tensor(),
                                      gb ? Tensor::empty(edge_shape, dp) : Tensor()};
    const Tensor dout = g[0].contiguous();
    ops::detail::check_gaussian_types(dd, dp);
    backend::call<backend::GaussianBasisBackward>(pb.dist.device(), dd, pb, dout, grads);
    return std::vector<Tensor>{grads.dist, grads.means, grads.stds, grads.mul, grads.bias};
  });
  return out;
}

}  // namespace molm
