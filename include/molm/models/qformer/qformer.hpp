// The Q-Former ("Qformer" in the checkpoints: LAVIS' BertLMHeadModel), and its four passes
// (reference-model.md §3.5). Building blocks and names: models/qformer/bert.hpp.
//
//   auto q = std::make_shared<qformer::QFormer>(qformer::Config::tiny(), gen);
//   auto a = q->query_pass(queries, molecule, padding);          // (a) [B, Nq, H] + key/value cache
//   Tensor t = q->text_pass(ids, mask);                          // (b) [B, T, H]; row 0 = [CLS]
//   Tensor m = q->matching_pass(queries, ids, mask, molecule, padding);   // (c) [B, Nq + T, H]
//   Tensor logits = q->generation_pass(dec_ids, mask, a.cache);  // (d) [B, T, vocab]
//
// `molecule` is the Uni-Mol output after ln_graph, every row including padding [B, N, encoder_width];
// `padding` is Uni-Mol's mask, bool [B, N], TRUE AT PADDING, or undefined when the Uni-Mol batch had
// no padding (reference_padding(): the reference's None, which changes the mask). Text ids are WordPiece ids
// `[CLS] … [SEP] [PAD]…` with mask 1 on real tokens (i64 or bool).
//
// Masks. Self-attention: the reference adds −10000 to hidden keys; molm hides them (−inf). The two
// agree exactly: exp(−10000 + s − max) underflows to 0 in every dtype, and no row of any pass has
// every key hidden (the queries, or [CLS], are always visible). Cross-attention: see
// cross_attention_options() — by default the reference's inverted mask (§3.4).
#pragma once

#include "molm/models/qformer/bert.hpp"

#include <vector>

namespace molm::models::qformer {

/// bool [B, T], true where the token is padding, from a text attention mask (1 = real; i64, i32,
/// u8 or bool).
inline Tensor text_padding(const Tensor& mask) {
  MOLM_CHECK(mask.dim() == 2, "qformer", "expects a text attention mask [B, T], got {}", mask.shape().str());
  return eq(mask.to(DType::i64), zeros({}, DType::i64));
}

/// Pass (a)'s output: the query rows, and per layer the self-attention keys/values of the queries
/// ([B, heads, Nq, D]), which pass (d) attends to.
struct QueryPassOutput {
  Tensor hidden;                 ///< [B, Nq, H]
  std::vector<KeyValue> cache;   ///< one per layer (empty unless asked for)
};

/// `bert` of the checkpoint: embeddings and encoder.layer.
class BertModel : public nn::Module {
 public:
  BertModel(const Config& c, Generator& gen, Generator* dropout_gen) {
    embeddings = register_module("embeddings", std::make_shared<Embeddings>(c, gen, dropout_gen));
    encoder = register_module("encoder", std::make_shared<Encoder>());
    for (std::int64_t i = 0; i < c.num_hidden_layers; ++i)
      encoder->layer->push_back(std::make_shared<Layer>(c, i, gen, dropout_gen));
  }
  class Encoder : public nn::Module {
   public:
    Encoder() { layer = register_module("layer", std::make_shared<nn::ModuleList>()); }
    std::shared_ptr<nn::ModuleList> layer;
  };

  std::size_t num_layers() const { return encoder->layer->size(); }
  std::shared_ptr<Layer> layer(std::size_t i) const { return encoder->layer->get<Layer>(i); }

  std::shared_ptr<Embeddings> embeddings;
  std::shared_ptr<Encoder> encoder;
};

/// `cls`: the MLM head.
class OnlyMLMHead : public nn::Module {
 public:
  OnlyMLMHead(const Config& c, const Tensor& word_embeddings, Generator& gen) {
    predictions = register_module("predictions", std::make_shared<PredictionHead>(c, word_embeddings, gen));
  }
  std::shared_ptr<PredictionHead> predictions;
};

class QFormer : public nn::Module {
 public:
  /// BERT-initialised weights (N(0, 0.02), zero biases, LayerNorm (1, 0)); `dropout_gen` drives
  /// dropout in training mode and must outlive the model (nullptr: eval only).
  QFormer(const Config& config, Generator& gen, Generator* dropout_gen = nullptr) : config_(config) {
    config_.validate();
    {
      SkipInit once;  // the blocks' own (PyTorch) init would be overwritten by BERT's just below
      bert = register_module("bert", std::make_shared<BertModel>(config_, gen, dropout_gen));
      cls = register_module("cls", std::make_shared<OnlyMLMHead>(config_, bert->embeddings->word_embeddings->weight, gen));
    }
    bert_init(*this, gen);
  }

  const Config& config() const { return config_; }

  /// (a) Query-only: the queries [B, Nq, H] attend to each other (no mask) and, on cross-attention
  /// layers, to the molecule rows (cross_attention_options); query FFN. With `cache`, every layer's
  /// query keys/values are kept for pass (d).
  QueryPassOutput query_pass(const Tensor& queries, const Tensor& molecule, const Tensor& padding,
                             bool cache = true) const {
    check_queries(queries);
    check_molecule(molecule, padding, queries.shape()[0]);
    LayerMasks masks;
    masks.cross = {padding, config_.corrected_cross_attention_mask};
    QueryPassOutput out;
    Tensor x = bert->embeddings->forward(Tensor(), queries);
    if (cache) out.cache.resize(bert->num_layers());
    for (std::size_t i = 0; i < bert->num_layers(); ++i)
      x = bert->layer(i)->forward(x, queries.shape()[1], molecule, masks, nullptr, cache ? &out.cache[i] : nullptr);
    out.hidden = x;
    return out;
  }

  /// (b) Text-only: bidirectional self-attention with the text's padding hidden; no
  /// cross-attention; text FFN. [B, T, H]; row 0 ([CLS]) is the text feature.
  Tensor text_pass(const Tensor& ids, const Tensor& mask) const {
    check_text(ids, mask);
    LayerMasks masks;
    masks.self.key_padding_mask = text_padding(mask);
    Tensor x = bert->embeddings->forward(ids, Tensor());
    for (std::size_t i = 0; i < bert->num_layers(); ++i) x = bert->layer(i)->forward(x, 0, Tensor(), masks);
    return x;
  }

  /// (c) Matching: [queries ; text], fully bidirectional (queries see the text and the text sees
  /// the queries) with the text's padding hidden; query rows cross-attend the molecule; query FFN
  /// for the query rows, text FFN for the rest. [B, Nq + T, H]; rows 0..Nq−1 feed gtm_head.
  Tensor matching_pass(const Tensor& queries, const Tensor& ids, const Tensor& mask, const Tensor& molecule,
                       const Tensor& padding) const {
    check_queries(queries);
    check_text(ids, mask);
    const std::int64_t B = ids.shape()[0], Nq = queries.shape()[1];
    check_molecule(molecule, padding, B);
    LayerMasks masks;
    masks.self.key_padding_mask = cat({zeros({B, Nq}, DType::boolean), text_padding(mask)}, 1);
    masks.cross = {padding, config_.corrected_cross_attention_mask};
    Tensor x = bert->embeddings->forward(ids, queries);
    for (std::size_t i = 0; i < bert->num_layers(); ++i) x = bert->layer(i)->forward(x, Nq, molecule, masks);
    return x;
  }

  /// (d) Generation: text only (the caller puts [DEC] in position 0; positions start at 0). Each
  /// text row attends to every cached query key/value of pass (a) and causally to the text rows up
  /// to itself, text padding hidden; no cross-attention; text FFN; then the MLM head.
  /// → logits [B, T, vocab] (row t predicts token t + 1).
  Tensor generation_pass(const Tensor& ids, const Tensor& mask, const std::vector<KeyValue>& cache) const {
    check_text(ids, mask);
    MOLM_CHECK(cache.size() == bert->num_layers(), "qformer::generation_pass",
               "needs the key/value cache of pass (a) for each of the {} layers, got {}", bert->num_layers(),
               cache.size());
    const std::int64_t B = ids.shape()[0], Nq = cache.front().key.shape()[2];
    MOLM_CHECK(cache.front().key.shape()[0] == B, "qformer::generation_pass",
               "the cache holds {} molecules for {} texts", cache.front().key.shape()[0], B);
    LayerMasks masks;
    masks.self.key_padding_mask = cat({zeros({B, Nq}, DType::boolean), text_padding(mask)}, 1);
    masks.self.causal = true;  // query i sees key j ≤ i + Nq: all cached queries, text up to itself
    Tensor x = bert->embeddings->forward(ids, Tensor());
    for (std::size_t i = 0; i < bert->num_layers(); ++i)
      x = bert->layer(i)->forward(x, 0, Tensor(), masks, &cache[i]);
    return cls->predictions->forward(x);
  }

  std::shared_ptr<BertModel> bert;
  std::shared_ptr<OnlyMLMHead> cls;

 private:
  void check_queries(const Tensor& q) const {
    MOLM_CHECK(q.dim() == 3 && q.shape()[2] == config_.hidden_size, "qformer",
               "expects queries [B, Nq, {}], got {}", config_.hidden_size, q.shape().str());
  }
  void check_text(const Tensor& ids, const Tensor& mask) const {
    MOLM_CHECK(ids.dim() == 2 && (ids.dtype() == DType::i64 || ids.dtype() == DType::i32), "qformer",
               "expects text ids i64 [B, T], got {} {}", name(ids.dtype()), ids.shape().str());
    MOLM_CHECK(mask.shape() == ids.shape(), "qformer", "text mask {} does not match ids {}", mask.shape().str(),
               ids.shape().str());
  }
  void check_molecule(const Tensor& molecule, const Tensor& padding, std::int64_t B) const {
    MOLM_CHECK(molecule.dim() == 3 && molecule.shape()[0] == B && molecule.shape()[2] == config_.encoder_width,
               "qformer", "expects molecule rows [{}, N, {}] (after ln_graph), got {}", B, config_.encoder_width,
               molecule.shape().str());
    MOLM_CHECK(!padding.defined() || (padding.dtype() == DType::boolean &&
                                      padding.shape() == Shape({B, molecule.shape()[1]})),
               "qformer", "expects the molecule padding mask bool [{}, {}] (true at padding), got {} {}", B,
               molecule.shape()[1], padding.defined() ? name(padding.dtype()) : "undefined",
               padding.defined() ? padding.shape().str() : "");
  }

  Config config_;
};

}  // namespace molm::models::qformer
