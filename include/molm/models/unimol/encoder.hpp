// The Uni-Mol 3D encoder as 3D-MoLM uses it (reference-model.md §2): atom tokens and the atom-pair
// distance matrix in, one vector per token out.
//
//   auto enc = std::make_shared<unimol::Encoder>(unimol::Config::tiny(), gen);
//   enc->load_state_dict(checkpoint);                   // names = mol_pre_no_h_220816.pt's keys (§9.1)
//   auto out = enc->forward(batch.tokens, batch.distances, batch.edge_types);   // data::collate_unimol
//   out.atoms        [B, N, C]  every row: [CLS], atoms, [SEP], padding (the Q-Former reads them all)
//   out.padding      [B, N] bool, true at padding
//
// The forward pass, step by step (names of the code below in brackets):
//   1. pair bias: every atom pair's distance through a Gaussian basis [gbf] and a 2-layer MLP
//      [gbf_proj] gives one additive attention bias per head; padding columns get -inf.
//   2. tokens → embeddings → LayerNorm [encoder.emb_layer_norm]; padding rows set to 0.
//   3. each layer [encoder.layers.i]: pre-LN self-attention with the pair bias, then a pre-LN GELU
//      FFN, both residual. The attention's pre-softmax logits (q·kᵀ/√d + bias) become the NEXT
//      layer's bias — Uni-Mol's pair representation accumulates across layers.
//   4. final LayerNorm [encoder.final_layer_norm].
// Quirks kept from the reference: the -inf of padding columns is added once and propagates through
// the accumulated bias; padding rows are computed like any row (their input is 0, their bias row is
// constant) and are returned, because the Q-Former attends to them (§3.4).
#pragma once

#include "molm/models/unimol/config.hpp"
#include "molm/nn/attention.hpp"
#include "molm/nn/dropout.hpp"
#include "molm/nn/embedding.hpp"
#include "molm/nn/layer_norm.hpp"
#include "molm/nn/linear.hpp"
#include "molm/nn/mlp.hpp"
#include "molm/nn/module_list.hpp"
#include "molm/ops/gaussian.hpp"
#include "molm/ops/select.hpp"
#include "molm/ops/softmax.hpp"

#include <limits>
#include <memory>

namespace molm::models::unimol {

/// Uni-Mol's GaussianLayer ("gbf"): per-edge-type affine map of the distance, then K Gaussians.
/// Four one-column/one-row tables, named as the checkpoint names them (means, stds, mul, bias).
class GaussianLayer : public nn::Module {
 public:
  GaussianLayer(std::int64_t kernels, std::int64_t edge_types, Generator& gen) {
    means = register_module("means", std::make_shared<nn::Embedding>(1, kernels, gen));
    stds = register_module("stds", std::make_shared<nn::Embedding>(1, kernels, gen));
    mul = register_module("mul", std::make_shared<nn::Embedding>(edge_types, 1, gen));
    bias = register_module("bias", std::make_shared<nn::Embedding>(edge_types, 1, gen));
    no_grad guard;  // Uni-Mol's init: means, stds ~ U(0, 3), mul = 1, bias = 0
    means->weight.copy_(rand({1, kernels}, gen, means->weight.dtype(), 0.0, 3.0));
    stds->weight.copy_(rand({1, kernels}, gen, stds->weight.dtype(), 0.0, 3.0));
    mul->weight.fill_(1.0);
    bias->weight.fill_(0.0);
  }

  /// dist [B, N, N] (f32), edge_type [B, N, N] (i64) → [B, N, N, K].
  Tensor forward(const Tensor& dist, const Tensor& edge_type) const {
    return gaussian_basis(dist, edge_type, means->weight, stds->weight, mul->weight, bias->weight);
  }

  std::shared_ptr<nn::Embedding> means, stds, mul, bias;
};

struct LayerOutput {
  Tensor x;       ///< [B, N, C]
  Tensor scores;  ///< [B, H, N, N]: this layer's pre-softmax logits, the next layer's bias
};

/// One pre-LN transformer layer with pair-biased self-attention (Uni-Core's TransformerEncoderLayer).
class EncoderLayer : public nn::Module {
 public:
  EncoderLayer(const Config& c, Generator& gen, Generator* dropout_gen) : config_(c) {
    self_attn = register_module("self_attn", std::make_shared<nn::MultiheadAttention>(
                                                 nn::AttentionConfig::unimol(c.embed_dim, c.heads), gen));
    self_attn_layer_norm = register_module("self_attn_layer_norm", std::make_shared<nn::LayerNorm>(c.embed_dim, c.layer_norm_eps));
    fc1 = register_module("fc1", std::make_shared<nn::Linear>(c.embed_dim, c.ffn_dim, gen));
    fc2 = register_module("fc2", std::make_shared<nn::Linear>(c.ffn_dim, c.embed_dim, gen));
    final_layer_norm = register_module("final_layer_norm", std::make_shared<nn::LayerNorm>(c.embed_dim, c.layer_norm_eps));
    // Registered so that train()/eval() reach them; they hold no tensors, so the state dict is unchanged.
    residual_dropout_ = register_module("residual_dropout", std::make_shared<nn::Dropout>(c.dropout, dropout_gen));
    attention_dropout_ = register_module("attention_dropout", std::make_shared<nn::Dropout>(c.attention_dropout, dropout_gen));
    activation_dropout_ = register_module("activation_dropout", std::make_shared<nn::Dropout>(c.activation_dropout, dropout_gen));
  }

  /// x [B, N, C], bias [B, H, N, N] (−inf on padding columns) → the new x and this layer's logits.
  LayerOutput forward(const Tensor& x, const Tensor& bias) const {
    const bool drop_attention = is_training() && config_.attention_dropout > 0;

    const nn::QKV qkv = self_attn->project(self_attn_layer_norm->forward(x));
    AttentionOptions options;
    options.bias = bias;
    options.return_scores = true;
    Tensor attended;
    Tensor scores;
    if (!drop_attention) {  // the fused kernel: scores, softmax and P·V in one pass
      AttentionResult r = self_attn->attend(qkv, options);
      attended = r.output;
      scores = r.scores;
    } else {  // training with attention dropout: the same maths, unfused, to drop probabilities
      scores = scaled_dot_product_attention(qkv.q, qkv.k, qkv.v, options).scores;
      const Tensor p = attention_dropout_->forward(softmax(scores));
      attended = self_attn->out_proj->forward(nn::MultiheadAttention::merge_heads(matmul(p, qkv.v)));
    }
    Tensor h = x + residual_dropout_->forward(attended);
    const Tensor f = fc2->forward(activation_dropout_->forward(gelu(fc1->forward(final_layer_norm->forward(h)))));
    return {h + residual_dropout_->forward(f), scores};
  }

  std::shared_ptr<nn::MultiheadAttention> self_attn;
  std::shared_ptr<nn::LayerNorm> self_attn_layer_norm, final_layer_norm;
  std::shared_ptr<nn::Linear> fc1, fc2;

 private:
  Config config_;
  std::shared_ptr<nn::Dropout> residual_dropout_, attention_dropout_, activation_dropout_;
};

/// The "encoder" child of the checkpoint: embedding LayerNorm, the layers, the final LayerNorm.
class TransformerWithPair : public nn::Module {
 public:
  TransformerWithPair(const Config& c, Generator& gen, Generator* dropout_gen) {
    // Registration order = the checkpoint's key order (Uni-Core's TransformerEncoderWithPair).
    emb_layer_norm = register_module("emb_layer_norm", std::make_shared<nn::LayerNorm>(c.embed_dim, c.layer_norm_eps));
    final_layer_norm = register_module("final_layer_norm", std::make_shared<nn::LayerNorm>(c.embed_dim, c.layer_norm_eps));
    layers = register_module("layers", std::make_shared<nn::ModuleList>());
    for (std::int64_t i = 0; i < c.layers; ++i) layers->push_back(std::make_shared<EncoderLayer>(c, gen, dropout_gen));
  }

  std::shared_ptr<nn::LayerNorm> emb_layer_norm, final_layer_norm;
  std::shared_ptr<nn::ModuleList> layers;
};

struct EncoderOutput {
  Tensor atoms;    ///< [B, N, C] after the final LayerNorm, every row (CLS, atoms, SEP, padding)
  Tensor padding;  ///< bool [B, N], true at padding slots
  /// [B, C]: the [CLS] row of `atoms`, Uni-Mol's molecule vector (3D-MoLM itself pools nothing).
  Tensor cls() const { return atoms.select(1, 0); }
};

class Encoder : public nn::Module {
 public:
  /// Random weights (PyTorch-style init); `dropout_gen` drives dropout in training mode and must
  /// outlive the encoder (nullptr: eval only, or dropout rates of 0).
  Encoder(const Config& config, Generator& gen, Generator* dropout_gen = nullptr) : config_(config) {
    config_.validate();
    const Config& c = config_;
    embed_tokens = register_module("embed_tokens",
                                   std::make_shared<nn::Embedding>(c.vocab_size, c.embed_dim, gen, c.padding_idx));
    encoder = register_module("encoder", std::make_shared<TransformerWithPair>(c, gen, dropout_gen));
    gbf_proj = register_module("gbf_proj", std::make_shared<nn::MLP>(
                                               nn::MLPConfig{.in_features = c.gaussian_kernels,
                                                             .hidden_features = c.gaussian_kernels,
                                                             .out_features = c.heads,
                                                             .activation = nn::Activation::gelu,
                                                             .fc1_name = "linear1",
                                                             .fc2_name = "linear2"},
                                               gen));
    gbf = register_module("gbf", std::make_shared<GaussianLayer>(c.gaussian_kernels, c.edge_types(), gen));
    emb_dropout_ = register_module("emb_dropout", std::make_shared<nn::Dropout>(c.emb_dropout, dropout_gen));
  }

  /// tokens i64 [B, N], distances f32 [B, N, N], edge_types i64 [B, N, N] (data::collate_unimol).
  EncoderOutput forward(const Tensor& tokens, const Tensor& distances, const Tensor& edge_types) const {
    constexpr const char* op = "unimol::Encoder";
    MOLM_CHECK(tokens.dim() == 2, op, "expects tokens [B, N], got {}", tokens.shape().str());
    const std::int64_t B = tokens.shape()[0], N = tokens.shape()[1];
    MOLM_CHECK(distances.shape() == Shape({B, N, N}) && edge_types.shape() == Shape({B, N, N}), op,
               "expects distances and edge types [{}, {}, {}] for tokens {}; got {} and {}", B, N, N,
               tokens.shape().str(), distances.shape().str(), edge_types.shape().str());
    const Tensor padding = padding_mask(tokens);

    // 1. Pair bias [B, H, N, N], -inf on padding columns.
    Tensor bias = gbf_proj->forward(gbf->forward(distances, edge_types)).permute({0, 3, 1, 2});
    const Tensor padding_columns = padding.reshape({B, 1, 1, N});
    bias = masked_fill(bias, padding_columns, -std::numeric_limits<double>::infinity());

    // 2. Embeddings, LayerNorm, dropout, padding rows zeroed.
    Tensor x = emb_dropout_->forward(encoder->emb_layer_norm->forward(embed_tokens->forward(tokens)));
    x = masked_fill(x, padding.reshape({B, N, 1}), 0.0);

    // 3. Layers: each one's logits are the next one's bias.
    for (std::size_t i = 0; i < encoder->layers->size(); ++i) {
      const auto layer = encoder->layers->get<EncoderLayer>(i);
      LayerOutput out = layer->forward(x, bias);
      x = out.x;
      bias = out.scores;
    }
    // 4. Final LayerNorm.
    return {encoder->final_layer_norm->forward(x), padding};
  }

  const Config& config() const { return config_; }

  /// bool [B, N]: tokens == padding_idx.
  Tensor padding_mask(const Tensor& tokens) const {
    const Tensor t = tokens.to(DType::i64).contiguous();
    Tensor mask = Tensor::empty(t.shape(), DType::boolean);
    const std::int64_t* p = t.data<std::int64_t>();
    bool* m = mask.data<bool>();
    for (std::int64_t i = 0; i < t.numel(); ++i) {
      MOLM_CHECK(p[i] >= 0 && p[i] < config_.vocab_size, "unimol::Encoder", "token {} at position {} is outside the "
                 "vocabulary of {}", p[i], i, config_.vocab_size);
      m[i] = p[i] == config_.padding_idx;
    }
    return mask;
  }

  std::shared_ptr<nn::Embedding> embed_tokens;
  std::shared_ptr<TransformerWithPair> encoder;
  std::shared_ptr<nn::MLP> gbf_proj;
  std::shared_ptr<GaussianLayer> gbf;

 private:
  Config config_;
  std::shared_ptr<nn::Dropout> emb_dropout_;
};

}  // namespace molm::models::unimol
