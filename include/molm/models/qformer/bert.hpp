// The BERT building blocks of the Q-Former, as LAVIS' Qformer.py builds them (reference-model.md
// §3.2), each named after its checkpoint keys (§9.2):
//
//   embeddings            word_embeddings, position_embeddings, LayerNorm   (no token-type table)
//   encoder.layer.i       attention {self: query/key/value, output: dense/LayerNorm}
//                         crossattention {…same…, key/value read encoder_width}   (i % freq == 0)
//                         intermediate {dense}, output {dense, LayerNorm}           text rows
//                         intermediate_query {dense}, output_query {dense, LayerNorm}  query rows
//   cls.predictions       transform {dense, LayerNorm}, decoder (tied to word_embeddings), bias
//
// Every block is post-LN: LN(x + Dropout(Dense(f(x)))). The masks of each pass are built by the
// caller (models/qformer/qformer.hpp) and arrive here as AttentionOptions.
#pragma once

#include "molm/models/qformer/config.hpp"
#include "molm/models/qformer/masks.hpp"
#include "molm/nn/attention.hpp"
#include "molm/nn/dropout.hpp"
#include "molm/nn/embedding.hpp"
#include "molm/nn/layer_norm.hpp"
#include "molm/nn/linear.hpp"
#include "molm/nn/module_list.hpp"
#include "molm/ops/join.hpp"
#include "molm/ops/softmax.hpp"

#include <memory>
#include <optional>

namespace molm::models::qformer {

/// BERT's initialisation, which LAVIS applies to every block it builds (§3.3): Linear and Embedding
/// weights N(0, 0.02), Linear biases 0 (LayerNorms are built as (1, 0)).
inline void bert_init(nn::Module& m, Generator& gen) {
  no_grad guard;
  for (auto& [name, p] : m.named_parameters()) {
    const bool is_bias = name.size() >= 4 && name.compare(name.size() - 4, 4, "bias") == 0;
    const bool is_norm = name.find("LayerNorm") != std::string::npos;
    if (is_norm) continue;
    if (is_bias) p.zero_();
    else p.copy_(randn(p.shape(), gen, p.dtype(), 0.0, 0.02));
  }
}

/// `embeddings`: text ids → word + absolute position embeddings; queries (if any) are put in front
/// without a position; then LayerNorm and dropout over the whole sequence (the queries included).
class Embeddings : public nn::Module {
 public:
  Embeddings(const Config& c, Generator& gen, Generator* dropout_gen) {
    word_embeddings = register_module("word_embeddings",
                                      std::make_shared<nn::Embedding>(c.vocab_size, c.hidden_size, gen, c.pad_token_id));
    position_embeddings = register_module(
        "position_embeddings", std::make_shared<nn::Embedding>(c.max_position_embeddings, c.hidden_size, gen));
    LayerNorm = register_module("LayerNorm", std::make_shared<nn::LayerNorm>(c.hidden_size, c.layer_norm_eps));
    dropout_ = register_module("dropout", std::make_shared<nn::Dropout>(c.hidden_dropout_prob, dropout_gen));
  }

  /// ids i64 [B, T] (may be undefined), queries [B, Nq, H] (may be undefined), text positions
  /// starting at `first_position` → [B, Nq + T, H].
  Tensor forward(const Tensor& ids, const Tensor& queries, std::int64_t first_position = 0) const {
    Tensor x;
    if (ids.defined()) {
      const std::int64_t T = ids.shape()[1];
      const std::int64_t P = position_embeddings->weight.shape()[0];
      MOLM_CHECK(first_position + T <= P, "qformer::Embeddings",
                 "{} text tokens from position {} exceed the {} position embeddings", T, first_position, P);
      const Tensor positions = arange(first_position, first_position + T, 1, DType::i64);
      x = word_embeddings->forward(ids) + position_embeddings->forward(positions);
      if (queries.defined()) x = cat({queries.to(x.dtype()), x}, 1);
    } else {
      x = queries;
    }
    return dropout_->forward(LayerNorm->forward(x));
  }

  std::shared_ptr<nn::Embedding> word_embeddings, position_embeddings;
  std::shared_ptr<nn::LayerNorm> LayerNorm;

 private:
  std::shared_ptr<nn::Dropout> dropout_;
};

/// `output` / `output_query` / `attention.output`: LN(x + Dropout(dense(h))).
class PostNorm : public nn::Module {
 public:
  PostNorm(std::int64_t in, std::int64_t out, double eps, double p, Generator& gen, Generator* dropout_gen) {
    dense = register_module("dense", std::make_shared<nn::Linear>(in, out, gen));
    LayerNorm = register_module("LayerNorm", std::make_shared<nn::LayerNorm>(out, eps));
    dropout_ = register_module("dropout", std::make_shared<nn::Dropout>(p, dropout_gen));
  }
  Tensor forward(const Tensor& h, const Tensor& residual) const {
    return LayerNorm->forward(residual + dropout_->forward(dense->forward(h)));
  }
  std::shared_ptr<nn::Linear> dense;
  std::shared_ptr<nn::LayerNorm> LayerNorm;

 private:
  std::shared_ptr<nn::Dropout> dropout_;
};

/// `intermediate` / `intermediate_query`: GELU(dense(x)) (exact erf GELU).
class Intermediate : public nn::Module {
 public:
  Intermediate(const Config& c, Generator& gen) {
    dense = register_module("dense", std::make_shared<nn::Linear>(c.hidden_size, c.intermediate_size, gen));
  }
  Tensor forward(const Tensor& x) const { return gelu(dense->forward(x)); }
  std::shared_ptr<nn::Linear> dense;
};

/// Keys and values of one self-attention layer, [B, heads, L, D] — what pass (a) caches for (d).
struct KeyValue {
  Tensor key, value;
};

/// `attention` / `crossattention`: multi-head attention ("self") and its post-LN output block.
class Attention : public nn::Module {
 public:
  Attention(const Config& c, bool cross, Generator& gen, Generator* dropout_gen)
      : attention_dropout_(c.attention_probs_dropout_prob) {
    self = register_module("self", std::make_shared<nn::MultiheadAttention>(
                                       nn::AttentionConfig::bert(c.hidden_size, c.num_attention_heads,
                                                                 cross ? c.encoder_width : 0),
                                       gen));
    output = register_module("output", std::make_shared<PostNorm>(c.hidden_size, c.hidden_size, c.layer_norm_eps,
                                                                  c.hidden_dropout_prob, gen, dropout_gen));
    probs_dropout_ = register_module("probs_dropout", std::make_shared<nn::Dropout>(attention_dropout_, dropout_gen));
  }

  /// x [B, L, H]; context [B, N, encoder_width] for cross-attention (undefined: self-attention).
  /// `past` keys/values are put in front of this call's own (the generation pass's query cache);
  /// `present`, when given, receives the keys/values used (past included). With `cross`, the
  /// options come from the molecule mask, built in the dtype of the scores.
  Tensor forward(const Tensor& x, const Tensor& context, const AttentionOptions& self_options,
                 const KeyValue* past = nullptr, KeyValue* present = nullptr, const CrossMask* cross = nullptr) const {
    nn::QKV qkv = self->project(x, context);
    const AttentionOptions options =
        cross ? cross_attention_options(cross->padding, qkv.q.dtype(), cross->corrected) : self_options;
    if (past) {
      qkv.k = cat({past->key, qkv.k}, 2);
      qkv.v = cat({past->value, qkv.v}, 2);
    }
    if (present) *present = {qkv.k, qkv.v};
    Tensor attended;
    if (!(is_training() && attention_dropout_ > 0)) {
      attended = self->attend(qkv, options).output;  // fused: scores, softmax, P·V
    } else {  // BERT drops attention probabilities while training: the same maths, unfused
      AttentionOptions o = options;
      o.return_scores = true;
      const Tensor scores = scaled_dot_product_attention(qkv.q, qkv.k, qkv.v, o).scores;
      attended = nn::MultiheadAttention::merge_heads(matmul(probs_dropout_->forward(softmax(scores)), qkv.v));
    }
    return output->forward(attended, x);
  }

  std::shared_ptr<nn::MultiheadAttention> self;
  std::shared_ptr<PostNorm> output;

 private:
  double attention_dropout_;
  std::shared_ptr<nn::Dropout> probs_dropout_;
};

/// Masks of one layer call (built once per pass by the caller).
struct LayerMasks {
  AttentionOptions self;  ///< over [queries ; text] keys (plus cached query keys in pass d)
  CrossMask cross;        ///< query rows over the molecule rows (§3.4)
};

/// `encoder.layer.i`: self-attention over the whole sequence; cross-attention for the first
/// `query_rows` rows on layers that have it; the query FFN for those rows and the text FFN for the
/// rest (LAVIS' BertLayer with query_length).
class Layer : public nn::Module {
 public:
  Layer(const Config& c, std::int64_t index, Generator& gen, Generator* dropout_gen) {
    attention = register_module("attention", std::make_shared<Attention>(c, false, gen, dropout_gen));
    if (c.has_cross_attention(index)) {
      crossattention = register_module("crossattention", std::make_shared<Attention>(c, true, gen, dropout_gen));
    }
    auto ffn_out = [&] {
      return std::make_shared<PostNorm>(c.intermediate_size, c.hidden_size, c.layer_norm_eps, c.hidden_dropout_prob,
                                        gen, dropout_gen);
    };
    intermediate = register_module("intermediate", std::make_shared<Intermediate>(c, gen));
    output = register_module("output", ffn_out());
    intermediate_query = register_module("intermediate_query", std::make_shared<Intermediate>(c, gen));
    output_query = register_module("output_query", ffn_out());
  }

  /// x [B, L, H] whose first `query_rows` rows are queries; molecule [B, N, encoder_width] after
  /// ln_graph (read only when query_rows > 0 and this layer cross-attends).
  Tensor forward(const Tensor& x, std::int64_t query_rows, const Tensor& molecule, const LayerMasks& masks,
                 const KeyValue* past = nullptr, KeyValue* present = nullptr) const {
    const Tensor h = attention->forward(x, Tensor(), masks.self, past, present);
    if (query_rows == 0) return text_ffn(h);
    Tensor q = h.narrow(1, 0, query_rows);
    if (crossattention) q = crossattention->forward(q, molecule, {}, nullptr, nullptr, &masks.cross);
    q = output_query->forward(intermediate_query->forward(q), q);
    const std::int64_t L = h.shape()[1];
    if (L == query_rows) return q;
    return cat({q, text_ffn(h.narrow(1, query_rows, L - query_rows))}, 1);
  }

  std::shared_ptr<Attention> attention, crossattention;  ///< crossattention is null on odd layers
  std::shared_ptr<Intermediate> intermediate, intermediate_query;
  std::shared_ptr<PostNorm> output, output_query;

 private:
  Tensor text_ffn(const Tensor& t) const { return output->forward(intermediate->forward(t), t); }
};

/// `cls.predictions`: dense → GELU → LayerNorm, then the decoder tied to the word embeddings, + bias.
class PredictionHead : public nn::Module {
 public:
  PredictionHead(const Config& c, const Tensor& word_embeddings, Generator& gen) {
    bias = register_parameter("bias", zeros({c.vocab_size}));
    transform = register_module("transform", std::make_shared<Transform>(c, gen));
    decoder = register_module("decoder", std::make_shared<Decoder>(word_embeddings, bias));
  }
  /// hidden [..., H] → logits [..., vocab].
  Tensor forward(const Tensor& hidden) const {
    const Tensor t = transform->forward(hidden);
    return linear(t, decoder->weight, bias);
  }

  /// `transform`: dense, GELU, LayerNorm.
  class Transform : public nn::Module {
   public:
    Transform(const Config& c, Generator& gen) {
      dense = register_module("dense", std::make_shared<nn::Linear>(c.hidden_size, c.hidden_size, gen));
      LayerNorm = register_module("LayerNorm", std::make_shared<nn::LayerNorm>(c.hidden_size, c.layer_norm_eps));
    }
    Tensor forward(const Tensor& x) const { return LayerNorm->forward(gelu(dense->forward(x))); }
    std::shared_ptr<nn::Linear> dense;
    std::shared_ptr<nn::LayerNorm> LayerNorm;
  };
  /// `decoder`: holds the tied word-embedding matrix and the shared bias under its own names, so the
  /// state dict lists `decoder.weight` and `decoder.bias` as the reference's does.
  class Decoder : public nn::Module {
   public:
    Decoder(const Tensor& w, const Tensor& b) {
      weight = register_parameter("weight", w);
      bias = register_parameter("bias", b);
    }
    Tensor weight, bias;
  };

  Tensor bias;  ///< [vocab]
  std::shared_ptr<Transform> transform;
  std::shared_ptr<Decoder> decoder;
};

}  // namespace molm::models::qformer
