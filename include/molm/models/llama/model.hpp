// Llama, as transformers 4.35's LlamaForCausalLM computes it, under its parameter names
// (reference-model.md §5.1, §9.4):
//
//   model.embed_tokens                    [V, C]
//   model.layers.{i}.input_layernorm      RMSNorm
//   model.layers.{i}.self_attn            q_proj, k_proj, v_proj, o_proj (no bias; Hkv ≤ H key/value heads)
//   model.layers.{i}.post_attention_layernorm
//   model.layers.{i}.mlp                  gate_proj, up_proj, down_proj (SwiGLU)
//   model.norm                            RMSNorm
//   lm_head                               [V, C]; the very tensor of embed_tokens when tie_word_embeddings
//
// One layer: h = x + o_proj(attention(rotary(q), rotary(k), v)) on input_layernorm(x);
//            y = h + mlp(post_attention_layernorm(h)).
// Positions: a forward continues from the cache's length (0 without a cache), the same for every
// row: transformers 4.35 numbers training positions 0..T-1 over the left-padded row (quirk 19 of
// §11); generation here runs each prompt unpadded, so its positions are HF's mask-derived ones.
//
// 3D-MoLM's soft prompt (§5.3): splice_soft_prompt puts the rows of llm_proj's [B, 8, C] output into
// the embeddings at the <mol> positions, with gradient to those rows. The training loss (§5.5) is
// causal_lm_loss: logits at t predict labels at t+1, -100 ignored, mean over the rest.
#pragma once

#include "molm/models/llama/config.hpp"
#include "molm/models/llama/kv_cache.hpp"
#include "molm/nn.hpp"

#include <memory>
#include <vector>

namespace molm::models::llama {

/// The seven projections 3D-MoLM's LoRA adapts (§5.6).
inline const std::vector<std::string>& lora_targets() {
  static const std::vector<std::string> t = {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"};
  return t;
}

/// What a forward is given besides the inputs.
struct ForwardOptions {
  KVCache* cache = nullptr;  ///< continue from / append to this cache (inference only)
  /// [B, past + T] (i64, i32 or bool), 1 = a real token, 0 = padding hidden from every query (HF's
  /// attention_mask). Undefined: nothing is padding.
  Tensor attention_mask{};
  bool last_position_only = false;  ///< logits of the last position only ([B, 1, V]): generation
};

class DecoderLayer : public nn::Module {
 public:
  DecoderLayer(const Config& c, Generator& gen, DType dtype) {
    nn::AttentionConfig ac = nn::AttentionConfig::llama(c.hidden_size, c.num_attention_heads, c.num_key_value_heads);
    ac.dtype = dtype;
    self_attn = register_module("self_attn", std::make_shared<nn::MultiheadAttention>(ac, gen));
    mlp = register_module("mlp", std::make_shared<nn::SwiGLU>(c.hidden_size, c.intermediate_size, gen, dtype));
    input_layernorm = register_module("input_layernorm", std::make_shared<nn::RMSNorm>(c.hidden_size, c.rms_norm_eps, dtype));
    post_attention_layernorm =
        register_module("post_attention_layernorm", std::make_shared<nn::RMSNorm>(c.hidden_size, c.rms_norm_eps, dtype));
  }

  /// x [B, T, C] at the positions of `rope` → [B, T, C]. With a cache (layer `index`), the new keys
  /// and values are written at [cache.length, cache.length + T) and attention reads all before them.
  Tensor forward(const Tensor& x, const RotaryTables& rope, const Tensor& key_padding, KVCache* cache,
                 std::size_t index) const {
    nn::QKV qkv = self_attn->project(input_layernorm->forward(x));
    qkv.q = rotary_embedding(qkv.q, rope.cos, rope.sin);
    qkv.k = rotary_embedding(qkv.k, rope.cos, rope.sin);
    if (cache) {
      const std::int64_t past = cache->length, T = x.shape()[1];
      cache->keys[index].narrow(2, past, T).copy_(qkv.k);
      cache->values[index].narrow(2, past, T).copy_(qkv.v);
      qkv.k = cache->keys[index].narrow(2, 0, past + T);
      qkv.v = cache->values[index].narrow(2, 0, past + T);
    }
    AttentionOptions options;
    options.causal = true;  // with a cache: key j hidden from query i when j > past + i
    options.key_padding_mask = key_padding;
    const Tensor h = add(x, self_attn->attend(qkv, options).output);
    return add(h, mlp->forward(post_attention_layernorm->forward(h)));
  }

  std::shared_ptr<nn::MultiheadAttention> self_attn;
  std::shared_ptr<nn::SwiGLU> mlp;
  std::shared_ptr<nn::RMSNorm> input_layernorm, post_attention_layernorm;
};

/// HF LlamaModel (`model.`): embeddings, the layers, the final norm.
class Decoder : public nn::Module {
 public:
  Decoder(const Config& c, Generator& gen, DType dtype) {
    embed_tokens = register_module("embed_tokens", std::make_shared<nn::Embedding>(c.vocab_size, c.hidden_size, gen,
                                                                                   std::nullopt, dtype));
    layers = register_module("layers", std::make_shared<nn::ModuleList>());
    for (std::int64_t i = 0; i < c.num_hidden_layers; ++i) layers->push_back(std::make_shared<DecoderLayer>(c, gen, dtype));
    norm = register_module("norm", std::make_shared<nn::RMSNorm>(c.hidden_size, c.rms_norm_eps, dtype));
  }
  DecoderLayer& layer(std::size_t i) const { return *layers->get<DecoderLayer>(i); }

  std::shared_ptr<nn::Embedding> embed_tokens;
  std::shared_ptr<nn::ModuleList> layers;
  std::shared_ptr<nn::RMSNorm> norm;
};

/// `lm_head`: the output projection, no bias. Its weight is either its own or, for tied models, the
/// token embedding itself (one tensor under two names, as in HF).
class LMHead : public nn::Module {
 public:
  explicit LMHead(Tensor w) { weight = register_parameter("weight", std::move(w)); }
  Tensor forward(const Tensor& x) const { return q8 ? linear_q8(x, *q8) : linear(x, weight); }
  Tensor weight;                       ///< [V, C]
  std::shared_ptr<const Q8Weight> q8;  ///< int8 form (quantize_int8 of the model), else null
};

class CausalLM : public nn::Module {
 public:
  /// Weights initialised as HF's LlamaPreTrainedModel._init_weights: every Linear and Embedding
  /// weight N(0, 0.02) from `gen`, norms 1. Under a SkipInit guard (ops/factory.hpp) nothing is
  /// drawn: for a checkpoint to fill (a 7B model then costs its allocation only).
  CausalLM(const Config& c, Generator& gen, DType dtype = DType::f32) : config_(c), dtype_(dtype) {
    c.validate();
    model = register_module("model", std::make_shared<Decoder>(c, gen, dtype));
    Tensor head = c.tie_word_embeddings ? model->embed_tokens->weight
                                        : Tensor::empty({c.vocab_size, c.hidden_size}, dtype);
    lm_head = register_module("lm_head", std::make_shared<LMHead>(head));
    if (SkipInit::active()) return;
    no_grad guard;
    for (auto& [name, p] : named_parameters())
      if (name.find("norm") == std::string::npos) p.copy_(randn(p.shape(), gen, p.dtype(), 0.0, 0.02));
  }

  const Config& config() const { return config_; }
  DType dtype() const { return dtype_; }

  /// Token ids [B, T] (i64 or i32) → embeddings [B, T, C].
  Tensor embed(const Tensor& input_ids) const { return model->embed_tokens->forward(input_ids); }

  /// The final hidden states [B, T, C] (after model.norm) of `inputs_embeds` [B, T, C].
  Tensor hidden_states(const Tensor& inputs_embeds, const ForwardOptions& o = {}) const {
    constexpr const char* op = "llama";
    const Config& c = config_;
    MOLM_CHECK(inputs_embeds.dim() == 3 && inputs_embeds.shape()[2] == c.hidden_size, op,
               "expects inputs_embeds [B, T, {}], got {}", c.hidden_size, inputs_embeds.shape().str());
    const std::int64_t B = inputs_embeds.shape()[0], T = inputs_embeds.shape()[1];
    MOLM_CHECK(T > 0, op, "expects at least one position, got inputs_embeds {}", inputs_embeds.shape().str());
    const std::int64_t past = o.cache ? o.cache->length : 0;
    if (o.cache) {
      MOLM_CHECK(!autograd::grad_enabled(), op,
                 "the key/value cache is for inference: run with no_grad (or without a cache to train)");
      MOLM_CHECK(static_cast<std::int64_t>(o.cache->keys.size()) == c.num_hidden_layers && o.cache->batch() == B, op,
                 "the cache has {} layers of {} rows; the model has {} layers and the input {} rows",
                 o.cache->keys.size(), o.cache->batch(), c.num_hidden_layers, B);
      MOLM_CHECK(past + T <= o.cache->capacity(), op, "the cache holds {} positions: {} are filled, {} more do not fit",
                 o.cache->capacity(), past, T);
    }
    Tensor key_padding;
    if (o.attention_mask.defined()) {
      MOLM_CHECK(o.attention_mask.shape() == Shape({B, past + T}), op,
                 "attention_mask must be [B, past + T] = [{}, {}], got {}", B, past + T, o.attention_mask.shape().str());
      key_padding = eq(o.attention_mask.to(DType::i64), scalar_tensor(0.0, DType::i64));
    }
    const RotaryTables rope = rotary_cos_sin(arange(past, past + T), c.head_dim(), c.rope_theta, inputs_embeds.dtype());
    Tensor x = inputs_embeds;
    for (std::size_t i = 0; i < model->layers->size(); ++i) x = model->layer(i).forward(x, rope, key_padding, o.cache, i);
    if (o.cache) o.cache->length += T;
    if (o.last_position_only) x = x.narrow(1, T - 1, 1);
    return model->norm->forward(x);
  }

  /// Logits [B, T, V] ([B, 1, V] with last_position_only) of `inputs_embeds` [B, T, C].
  Tensor forward(const Tensor& inputs_embeds, const ForwardOptions& o = {}) const {
    return lm_head->forward(hidden_states(inputs_embeds, o));
  }
  /// Logits of token ids [B, T].
  Tensor forward_ids(const Tensor& input_ids, const ForwardOptions& o = {}) const { return forward(embed(input_ids), o); }

  std::shared_ptr<Decoder> model;
  std::shared_ptr<LMHead> lm_head;

 private:
  Config config_;
  DType dtype_;
};

/// 3D-MoLM's soft prompt (§5.3): `embeds` [B, T, C] with the positions where `input_ids` [B, T]
/// equals `mol_token_id` replaced, in order, by the rows of `rows` [B, K, C]: molecule b's K rows
/// fill its K <mol> slots. Every row must hold exactly K such positions. Differentiable in `rows`
/// (and in `embeds` at the other positions).
inline Tensor splice_soft_prompt(const Tensor& embeds, const Tensor& input_ids, std::int64_t mol_token_id,
                                 const Tensor& rows) {
  constexpr const char* op = "splice_soft_prompt";
  MOLM_CHECK(embeds.dim() == 3 && input_ids.dim() == 2 && rows.dim() == 3, op,
             "expects embeds [B, T, C], input_ids [B, T], rows [B, K, C]; got {}, {}, {}", embeds.shape().str(),
             input_ids.shape().str(), rows.shape().str());
  const std::int64_t B = embeds.shape()[0], T = embeds.shape()[1], C = embeds.shape()[2], K = rows.shape()[1];
  MOLM_CHECK(input_ids.shape() == Shape({B, T}) && rows.shape()[0] == B && rows.shape()[2] == C, op,
             "shapes disagree: embeds {}, input_ids {}, rows {}", embeds.shape().str(), input_ids.shape().str(),
             rows.shape().str());
  MOLM_CHECK(rows.dtype() == embeds.dtype(), op, "rows are {} but the embeddings {}", name(rows.dtype()),
             name(embeds.dtype()));
  const Tensor ids = input_ids.to(DType::i64).contiguous();
  const std::int64_t* pid = ids.data<std::int64_t>();
  // Row p of cat(embeds rows, soft rows) for every output position: itself, or its soft row.
  Tensor index = Tensor::empty({B * T}, DType::i64);
  std::int64_t* pi = index.data<std::int64_t>();
  for (std::int64_t b = 0; b < B; ++b) {
    std::int64_t k = 0;
    for (std::int64_t t = 0; t < T; ++t) {
      const std::int64_t p = b * T + t;
      pi[p] = p;
      if (pid[p] != mol_token_id) continue;
      MOLM_CHECK(k < K, op, "row {} holds more than {} <mol> tokens (id {})", b, K, mol_token_id);
      pi[p] = B * T + b * K + k++;
    }
    MOLM_CHECK(k == K, op, "row {} holds {} <mol> tokens (id {}); every row needs exactly {}", b, k, mol_token_id, K);
  }
  const Tensor table = cat({embeds.reshape({B * T, C}), rows.reshape({B * K, C})}, 0);
  return index_select(table, 0, index).reshape({B, T, C});
}

/// The causal-LM loss of §5.5 (HF LlamaForCausalLM's): cross-entropy of logits [B, T, V] at t
/// against labels [B, T] at t + 1, labels -100 ignored, mean over the counted positions (f32 under
/// autocast).
inline Tensor causal_lm_loss(const Tensor& logits, const Tensor& labels) {
  constexpr const char* op = "causal_lm_loss";
  MOLM_CHECK(logits.dim() == 3 && labels.dim() == 2 && labels.shape()[0] == logits.shape()[0] &&
                 labels.shape()[1] == logits.shape()[1] && logits.shape()[1] >= 2,
             op, "expects logits [B, T, V] and labels [B, T] with T >= 2; got {} and {}", logits.shape().str(),
             labels.shape().str());
  const std::int64_t B = logits.shape()[0], T = logits.shape()[1], V = logits.shape()[2];
  const Tensor shifted_logits = logits.narrow(1, 0, T - 1).reshape({B * (T - 1), V});
  const Tensor shifted_labels = labels.narrow(1, 1, T - 1).to(DType::i64).reshape({B * (T - 1)});
  return cross_entropy(shifted_logits, shifted_labels);
}

/// Inference with int8 weights (llama.cpp's Q8_0 layout with f32 scales, ops/quantized.hpp): every
/// projection of every layer and lm_head; their floating weights are released (a tied lm_head
/// keeps the embedding, which the lookup still needs). The embedding and the norms stay as they
/// are. LoRA adapters (already attached) keep their floating weights. Returns the bytes the int8
/// weights take.
inline std::uint64_t quantize_int8(CausalLM& lm) {
  std::uint64_t bytes = 0;
  for (auto& [name, m] : lm.named_modules()) {
    auto* lin = dynamic_cast<nn::Linear*>(m);
    if (!lin || nn::lora::detail::inside_adapter(name)) continue;
    lin->quantize_int8();
    bytes += lin->q8->nbytes();
  }
  LMHead& head = *lm.lm_head;
  if (!head.q8) {
    head.q8 = std::make_shared<const Q8Weight>(quantize_q8(head.weight.detach()));
    if (!lm.config().tie_word_embeddings) nn::Linear::release(head.weight);
  }
  return bytes + head.q8->nbytes();
}

/// 3D-MoLM's LoRA (§5.6) on the seven projections of every layer: r 8, alpha 32, dropout 0.1 by
/// default. Freezes everything else (PEFT's rule). Returns how many layers were wrapped.
inline std::size_t add_lora(CausalLM& lm, Generator& gen, int r = 8, double alpha = 32, double dropout = 0.1) {
  return nn::lora::wrap(lm, lora_targets(), r, alpha, dropout, gen);
}

}  // namespace molm::models::llama
