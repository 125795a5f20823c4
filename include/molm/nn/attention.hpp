// Multi-head attention with the parameter names of the three checkpoints molm loads:
//
//   naming   children                                   used by
//   bert     query, key, value (bias)                   Q-Former self/cross attention (`attention.self`);
//                                                       the output projection lives in the caller's
//                                                       `attention.output.dense` (reference-model.md §9.2)
//   llama    q_proj, k_proj, v_proj, o_proj (no bias)   HF Llama `self_attn` (§9.4); grouped KV heads
//   unimol   in_proj [3C, C] fused q|k|v, out_proj      Uni-Mol `self_attn` (§2.3, §9.1)
//
// forward(x, context, options):
//   q = Wq x,  k = Wk c,  v = Wv c   (c = context for cross-attention, else x)
//   split into H heads of D = C/H:  [B, L, H·D] → [B, H, L, D]
//   o = softmax(q kᵀ / sqrt(D) + bias + masks) v          (ops::scaled_dot_product_attention)
//   merge heads [B, H, Lq, D] → [B, Lq, H·D], then the output projection if the naming has one.
// The steps are public (project, attend) so models can insert what sits between them: Llama's rotary
// embedding and key/value cache, Uni-Mol's pre-softmax scores that become the next layer's bias.
// Not here: dropout on the attention probabilities. The op has none; only the stage-1 Q-Former trains
// with it (p = 0.1, reference-model.md §3.1), which will need it inside the attention op.
#pragma once

#include "molm/nn/linear.hpp"

namespace molm::nn {

enum class AttentionNaming { bert, llama, unimol };

struct AttentionConfig {
  std::int64_t embed_dim = 0;     ///< C: width of x and of the queries (H·D)
  std::int64_t num_heads = 1;     ///< H
  std::int64_t num_kv_heads = 0;  ///< key/value heads (Llama GQA); 0 = num_heads
  std::int64_t kv_dim = 0;        ///< width of the cross-attention context; 0 = embed_dim (Q-Former: 512)
  AttentionNaming naming = AttentionNaming::bert;
  bool bias = true;                   ///< biases on the projections (Llama: false)
  bool output_projection = true;      ///< o_proj / out_proj; BERT naming never has one here
  DType dtype = DType::f32;

  /// Q-Former `attention.self` / `crossattention.self` (kv_dim 512 for cross-attention).
  static AttentionConfig bert(std::int64_t embed_dim, std::int64_t num_heads, std::int64_t kv_dim = 0) {
    return {embed_dim, num_heads, 0, kv_dim, AttentionNaming::bert, true, false};
  }
  /// HF Llama `self_attn`.
  static AttentionConfig llama(std::int64_t embed_dim, std::int64_t num_heads, std::int64_t num_kv_heads = 0) {
    return {embed_dim, num_heads, num_kv_heads, 0, AttentionNaming::llama, false, true};
  }
  /// Uni-Mol `self_attn`.
  static AttentionConfig unimol(std::int64_t embed_dim, std::int64_t num_heads) {
    return {embed_dim, num_heads, 0, 0, AttentionNaming::unimol, true, true};
  }
};

/// Queries, keys and values split into heads: q [B, H, Lq, D], k and v [B, Hkv, Lk, D].
struct QKV {
  Tensor q, k, v;
};

class MultiheadAttention : public Module {
 public:
  MultiheadAttention(const AttentionConfig& c, Generator& gen) : config_(c) {
    constexpr const char* op = "MultiheadAttention";
    const std::int64_t C = c.embed_dim, H = c.num_heads;
    MOLM_CHECK(C > 0 && H > 0 && C % H == 0, op, "embed_dim {} must be a positive multiple of num_heads {}", C, H);
    if (config_.num_kv_heads == 0) config_.num_kv_heads = H;
    if (config_.kv_dim == 0) config_.kv_dim = C;
    const std::int64_t Hkv = config_.num_kv_heads, Ckv = Hkv * head_dim(), kv_in = config_.kv_dim;
    MOLM_CHECK(H % Hkv == 0, op, "num_heads {} must be a multiple of num_kv_heads {}", H, Hkv);
    MOLM_CHECK(Hkv == H || c.naming == AttentionNaming::llama, op, "grouped key/value heads need llama naming");
    MOLM_CHECK(c.naming != AttentionNaming::bert || !c.output_projection, op,
               "BERT naming has no output projection here: the caller's attention.output.dense holds it");
    MOLM_CHECK(c.naming != AttentionNaming::unimol || kv_in == C, op,
               "the fused in_proj of unimol naming cannot take a context of width {} (embed_dim {})", kv_in, C);
    auto lin = [&](const char* name, std::int64_t in, std::int64_t out) {
      return register_module(name, std::make_shared<Linear>(in, out, gen, c.bias, c.dtype));
    };
    switch (c.naming) {
      case AttentionNaming::bert:
        q_proj = lin("query", C, C);
        k_proj = lin("key", kv_in, C);
        v_proj = lin("value", kv_in, C);
        break;
      case AttentionNaming::llama:
        q_proj = lin("q_proj", C, C);
        k_proj = lin("k_proj", kv_in, Ckv);
        v_proj = lin("v_proj", kv_in, Ckv);
        if (c.output_projection) out_proj = lin("o_proj", C, C);
        break;
      case AttentionNaming::unimol:
        in_proj = lin("in_proj", C, 3 * C);
        if (c.output_projection) out_proj = lin("out_proj", C, C);
        break;
    }
  }

  /// x [B, Lq, C], context [B, Lk, kv_dim] or undefined (self-attention) → [B, Lq, C].
  Tensor forward(const Tensor& x, const Tensor& context = {}, const AttentionOptions& options = {}) const {
    return attend(project(x, context), options).output;
  }

  /// The projections, split into heads. Views of the projection outputs (strided, no copy).
  QKV project(const Tensor& x, const Tensor& context = {}) const {
    constexpr const char* op = "MultiheadAttention";
    const Tensor& c = context.defined() ? context : x;
    MOLM_CHECK(x.dim() == 3 && x.shape()[2] == config_.embed_dim, op, "expects x [B, L, {}], got {}",
               config_.embed_dim, x.shape().str());
    MOLM_CHECK(c.dim() == 3 && c.shape()[0] == x.shape()[0] && c.shape()[2] == config_.kv_dim, op,
               "expects context [B, Lk, {}] with x's B, got context {} for x {}", config_.kv_dim, c.shape().str(),
               x.shape().str());
    const std::int64_t H = config_.num_heads, Hkv = config_.num_kv_heads;
    if (in_proj) {
      MOLM_CHECK(!context.defined(), op, "unimol naming (fused in_proj) is self-attention only; got context {}",
                 context.shape().str());
      const Tensor qkv = in_proj->forward(x);  // [B, L, 3C]: q | k | v along the last axis
      const std::int64_t C = config_.embed_dim;
      return {split_heads(qkv.narrow(2, 0, C), H), split_heads(qkv.narrow(2, C, C), H),
              split_heads(qkv.narrow(2, 2 * C, C), H)};
    }
    return {split_heads(q_proj->forward(x), H), split_heads(k_proj->forward(c), Hkv),
            split_heads(v_proj->forward(c), Hkv)};
  }

  /// Attention over projected heads, merged back to [B, Lq, C] and passed through the output
  /// projection (if any). `scores` is filled when options.return_scores is set.
  AttentionResult attend(const QKV& qkv, const AttentionOptions& options = {}) const {
    const std::int64_t groups = config_.num_heads / config_.num_kv_heads;
    AttentionResult r = scaled_dot_product_attention(qkv.q, repeat_kv(qkv.k, groups), repeat_kv(qkv.v, groups), options);
    Tensor merged = merge_heads(r.output);
    r.output = out_proj ? out_proj->forward(merged) : merged;
    return r;
  }

  const AttentionConfig& config() const { return config_; }
  std::int64_t head_dim() const { return config_.embed_dim / config_.num_heads; }

  // Children by role; which are set depends on the naming (unused ones stay null).
  std::shared_ptr<Linear> q_proj, k_proj, v_proj;  ///< bert: query/key/value; llama: q_proj/k_proj/v_proj
  std::shared_ptr<Linear> in_proj;                 ///< unimol: fused [3C, C]
  std::shared_ptr<Linear> out_proj;                ///< llama: o_proj; unimol: out_proj

  /// [B, L, H·D] → [B, H, L, D] (a view).
  static Tensor split_heads(const Tensor& t, std::int64_t heads) {
    const Shape& s = t.shape();
    return t.reshape({s[0], s[1], heads, s[2] / heads}).permute({0, 2, 1, 3});
  }
  /// [B, H, L, D] → [B, L, H·D].
  static Tensor merge_heads(const Tensor& t) {
    const Shape& s = t.shape();
    return t.permute({0, 2, 1, 3}).reshape({s[0], s[2], s[1] * s[3]});
  }
  /// Each of the Hkv key/value heads repeated `groups` times in place: [B, Hkv, L, D] → [B, Hkv·groups,
  /// L, D], head h serving queries h·groups … h·groups + groups − 1 (HF's repeat_kv).
  static Tensor repeat_kv(const Tensor& t, std::int64_t groups) {
    if (groups == 1) return t;
    const Shape& s = t.shape();
    return t.unsqueeze(2).expand({s[0], s[1], groups, s[2], s[3]}).reshape({s[0], s[1] * groups, s[2], s[3]});
  }

 private:
  AttentionConfig config_;
};

}  // namespace molm::nn
