// Scaled-dot-product attention with an additive bias, a key padding mask and a causal mask, fused
// forward and backward. Used by Uni-Mol (pair bias, whose pre-softmax logits become the next
// layer's bias: reference-model.md §2.4–2.5), the Q-Former (additive masks, §3.4–3.5) and Llama
// (causal, possibly with cached keys).
//
//   S = scale · q kᵀ + bias,  S_ij = -inf where masked          (pre-softmax logits, "scores")
//   P = softmax_j(S),  out = P v
// Backward, with dO the output gradient and dT the gradient reaching `scores`:
//   dv = Pᵀ dO,  dP = dO vᵀ,  dS = P ⊙ (dP − rowsum(dP ⊙ P)) + dT (0 where masked)
//   dq = scale · dS k,  dk = scale · dSᵀ q,  dbias = dS summed to bias's (broadcast) shape
//
// Conventions:
// - A masked entry (key padding or causal) is a constant -inf, as Uni-Core's masked_fill: it passes
//   no gradient. Entries that are -inf because the bias is (Uni-Mol's padding columns) are ordinary
//   sums: they get dT like any other.
// - A row whose logits are all -inf (every key masked) has zero probabilities and a zero output,
//   where PyTorch would give NaN.
// - bf16/f16 accumulate in float; the kernels save P in acc_t<T> for backward.
// Not here: dropout on P (3D-MoLM never trains with it on), and a memory-saving flash formulation.
#pragma once

#include "molm/tensor/iter.hpp"
#include "molm/backend/kernels.hpp"
#include "molm/ops/map.hpp"
#include "molm/ops/reduce.hpp"
#include "molm/ops/view.hpp"

#include <cmath>
#include <optional>

namespace molm {

struct AttentionOptions {
  Tensor bias{};            ///< additive, broadcastable to [B,H,Lq,Lk], same dtype as q; may require grad
  Tensor key_padding_mask{};  ///< bool [B,Lk], true = padding (the key is hidden from every query)
  bool causal = false;      ///< hide key j from query i when j > i + (Lk − Lq)
  std::optional<double> scale{};  ///< multiplies q·kᵀ; default 1/sqrt(D)
  bool return_scores = false;   ///< also return the pre-softmax logits S (differentiable)
};

struct AttentionResult {
  Tensor output{};  ///< [B,H,Lq,Dv]
  Tensor scores{};  ///< [B,H,Lq,Lk] pre-softmax logits, -inf where masked; undefined unless asked for
};

namespace ops::detail {

/// Validate shapes and dtypes and describe the call for the kernels.
inline backend::AttentionProblem attention_problem(const Tensor& q, const Tensor& k, const Tensor& v,
                                                   const AttentionOptions& o) {
  constexpr const char* op = "scaled_dot_product_attention";
  check_cpu(q, op);
  check_cpu(k, op);
  check_cpu(v, op);
  MOLM_CHECK(q.dim() == 4 && k.dim() == 4 && v.dim() == 4, op,
             "expects q [B,H,Lq,D], k [B,H,Lk,D], v [B,H,Lk,Dv]; got q {}, k {}, v {}", q.shape().str(),
             k.shape().str(), v.shape().str());
  const Shape &sq = q.shape(), &sk = k.shape(), &sv = v.shape();
  MOLM_CHECK(sk[0] == sq[0] && sk[1] == sq[1] && sk[3] == sq[3], op,
             "k {} does not match q {} (expected [B,H,Lk,D] with q's B, H and D)", sk.str(), sq.str());
  MOLM_CHECK(sv[0] == sk[0] && sv[1] == sk[1] && sv[2] == sk[2], op,
             "v {} does not match k {} (expected [B,H,Lk,Dv] with k's B, H and Lk)", sv.str(), sk.str());
  MOLM_CHECK(is_floating(q.dtype()), op, "expects floating tensors, got {} q {}", name(q.dtype()), sq.str());
  check_same_dtype(q, k, op);
  check_same_dtype(q, v, op);

  backend::AttentionProblem p;
  p.q = q.detach();
  p.k = k.detach();
  p.v = v.detach();
  p.B = sq[0];
  p.H = sq[1];
  p.Lq = sq[2];
  p.Lk = sk[2];
  p.D = sq[3];
  p.Dv = sv[3];
  p.causal = o.causal;
  p.scale = o.scale.value_or(p.D > 0 ? 1.0 / std::sqrt(static_cast<double>(p.D)) : 1.0);
  const Shape logits{p.B, p.H, p.Lq, p.Lk};
  if (o.bias.defined()) {
    check_cpu(o.bias, op);
    check_same_dtype(q, o.bias, op);
    MOLM_CHECK(o.bias.dim() <= 4 && broadcast_shapes(o.bias.shape(), logits, op) == logits, op,
               "bias {} does not broadcast to the logits [B,H,Lq,Lk] = {} (q {}, k {})", o.bias.shape().str(),
               logits.str(), sq.str(), sk.str());
    p.bias = o.bias.detach();
    p.bias_strides = molm::detail::broadcast_strides(p.bias, logits);
  }
  if (o.key_padding_mask.defined()) {
    const Tensor& m = o.key_padding_mask;
    check_cpu(m, op);
    MOLM_CHECK(m.dtype() == DType::boolean && m.dim() == 2 && m.shape()[0] == p.B && m.shape()[1] == p.Lk, op,
               "key_padding_mask must be bool [B,Lk] = [{}, {}], got {} {} (q {}, k {})", p.B, p.Lk, name(m.dtype()),
               m.shape().str(), sq.str(), sk.str());
    p.key_padding_mask = m.detach();
  }
  return p;
}

}  // namespace ops::detail

/// softmax(scale·q kᵀ + bias + masks) v for q [B,H,Lq,D], k [B,H,Lk,D], v [B,H,Lk,Dv] (any strides,
/// same floating dtype). Differentiable in q, k, v and bias, through the output and the scores.
inline AttentionResult scaled_dot_product_attention(const Tensor& q, const Tensor& k, const Tensor& v,
                                                    const AttentionOptions& o = {}) {
  constexpr const char* op = "scaled_dot_product_attention";
  backend::AttentionProblem p = ops::detail::attention_problem(q, k, v, o);
  const bool needs_grad = autograd::any_requires_grad({&q, &k, &v, &o.bias});
  AttentionResult r;
  r.output = Tensor::empty({p.B, p.H, p.Lq, p.Dv}, q.dtype());
  if (o.return_scores) r.scores = Tensor::empty({p.B, p.H, p.Lq, p.Lk}, q.dtype());
  Tensor probs = needs_grad ? Tensor::empty({p.B, p.H, p.Lq, p.Lk}, acc_dtype(q.dtype())) : Tensor();
  backend::call<backend::AttentionForward>(q.device(), q.dtype(), p, r.output, r.scores, probs);
  if (!needs_grad) return r;

  // Backward needs q, k, v, the masks and P; not the bias (P already holds it).
  const bool gq = q.requires_grad(), gk = k.requires_grad(), gv = v.requires_grad();
  const bool gbias = o.bias.defined() && o.bias.requires_grad();
  const Shape bias_shape = gbias ? o.bias.shape() : Shape{};
  autograd::SavedTensor sq(p.q, op), sk(p.k, op), sv(p.v, op), smask(p.key_padding_mask, op);
  p.q = p.k = p.v = p.bias = p.key_padding_mask = Tensor();  // the node keeps the saved copies only
  const bool with_scores = o.return_scores;
  auto backward = [=](const std::vector<Tensor>& g) {
    backend::AttentionProblem pb = p;
    pb.q = sq.get();
    pb.k = sk.get();
    pb.v = sv.get();
    pb.key_padding_mask = smask.get();
    const DType dt = pb.q.dtype();
    const Tensor dq = gq ? Tensor::empty(pb.q.shape(), dt) : Tensor();
    const Tensor dk = gk ? Tensor::empty(pb.k.shape(), dt) : Tensor();
    const Tensor dv = gv ? Tensor::empty(pb.v.shape(), dt) : Tensor();
    const Tensor dlogits = gbias ? Tensor::empty(probs.shape(), probs.dtype()) : Tensor();
    const Tensor dscores = with_scores ? g[1] : Tensor();
    backend::call<backend::AttentionBackward>(pb.q.device(), dt, pb, probs, g[0], dscores, dq, dk, dv, dlogits);
    // dbias: the logits gradient summed over bias's broadcast dimensions, in acc precision.
    const Tensor dbias = gbias ? sum_to(dlogits, bias_shape).to(dt).contiguous() : Tensor();
    return std::vector<Tensor>{dq, dk, dv, dbias};
  };
  std::vector<Tensor> outputs{r.output};
  if (with_scores) outputs.push_back(r.scores);
  autograd::record(op, {q, k, v, o.bias}, outputs, backward);
  return r;
}

}  // namespace molm
