// The stage-1 model (3D-MoLM's Blip2Qformer without its frozen Uni-Mol): ln_graph, the query
// tokens, the Q-Former and the three stage-1 heads, with the three losses (reference-model.md §4).
// Parameter names are the stage-1 checkpoint's after its `blip2qformer.` prefix (§9.2).
//
//   qformer::Stage1 model(qformer::Config::tiny(), gen);
//   auto out = model.forward({unimol_rows, padding}, {ids, mask}, {.sampler = &gen});
//   out.loss.backward();                      // L = L_gtc + L_gtm + L_lm
//
// Per batch (§4): ln_graph(Uni-Mol rows) → pass (a) with its key/value cache → graph features;
// pass (b) → text feature of [CLS]; GTC over gathered features; GTM on 3B pairs with hard negatives;
// LM with [DEC] in position 0 attending to the cached queries.
#pragma once

#include "molm/models/qformer/losses.hpp"
#include "molm/models/qformer/qformer.hpp"
#include "molm/ops/indexing.hpp"
#include "molm/ops/normalization.hpp"
#include "molm/ops/select.hpp"

namespace molm::models::qformer {

/// The tensors a stage-1 state dict names twice (tied), and what they alias.
inline const std::vector<std::pair<std::string, std::string>>& tied_aliases() {
  static const std::vector<std::pair<std::string, std::string>> a{
      {"Qformer.cls.predictions.decoder.weight", "Qformer.bert.embeddings.word_embeddings.weight"},
      {"Qformer.cls.predictions.decoder.bias", "Qformer.cls.predictions.bias"}};
  return a;
}

/// Uni-Mol's output for a batch: every row (padding rows included) and its padding mask.
struct MoleculeBatch {
  Tensor rows;     ///< [B, N, encoder_width], before ln_graph
  Tensor padding;  ///< bool [B, N], true at padding; undefined when the batch has none (the reference's None)

  /// From the Uni-Mol encoder's output, with the reference's rule for the mask (reference_padding).
  static MoleculeBatch from_unimol(const Tensor& atoms, const Tensor& padding) {
    return {atoms, reference_padding(padding)};
  }
};

/// WordPiece ids `[CLS] … [SEP] [PAD]…` and their attention mask (1 = real token).
struct TextBatch {
  Tensor ids;   ///< i64 [B, T]
  Tensor mask;  ///< [B, T]
};

struct MoleculeFeatures {
  Tensor molecule;              ///< ln_graph(rows) [B, N, W]: what cross-attention reads
  Tensor padding;               ///< as given
  QueryPassOutput query;        ///< pass (a): [B, Nq, H] and the key/value cache
  Tensor features;              ///< normalised graph_proj of each query [B, Nq, E]
};

struct TextFeatures {
  Tensor hidden;    ///< pass (b) [B, T, H]
  Tensor features;  ///< normalised text_proj of [CLS] [B, E]
};

struct Stage1Options {
  bool gtm = true;  ///< matching loss on (the reference's --gtm, default on)
  bool lm = true;   ///< generation loss on (the reference's --lm, default on)
  /// Draws the hard negatives; required when gtm is on and `negatives` is not given.
  Generator* sampler = nullptr;
  /// Fixed negatives instead of sampling (tests; reproducing a logged run).
  const HardNegatives* negatives = nullptr;
  /// Cross-rank gathering of the contrastive features (default: one process).
  FeatureGather gather = gather_local;
};

struct Stage1Output {
  Tensor loss, loss_gtc, loss_gtm, loss_lm;  ///< 0-d; a switched-off term is undefined
  MoleculeFeatures molecules;
  TextFeatures texts;
  ContrastiveOutput contrast;
  HardNegatives negatives;
  Tensor gtm_logits;  ///< [3B, 2]: (text, molecule), (text, negative molecule), (negative text, molecule)
  Tensor lm_logits;   ///< [B, T, vocab]
};

class Stage1 : public nn::Module {
 public:
  Stage1(const Config& config, Generator& gen, Generator* dropout_gen = nullptr) : config_(config) {
    config_.validate();
    const Config& c = config_;
    // Registration order = the checkpoint's key order (own parameter first, then the children).
    query_tokens = register_parameter("query_tokens", randn({1, c.num_query_tokens, c.hidden_size}, gen,
                                                            DType::f32, 0.0, 0.02));
    ln_graph = register_module("ln_graph", std::make_shared<nn::LayerNorm>(c.encoder_width, c.ln_graph_eps));
    Qformer = register_module("Qformer", std::make_shared<QFormer>(c, gen, dropout_gen));
    graph_proj = register_module("graph_proj", std::make_shared<nn::Linear>(c.hidden_size, c.embed_dim, gen));
    text_proj = register_module("text_proj", std::make_shared<nn::Linear>(c.hidden_size, c.embed_dim, gen));
    gtm_head = register_module("gtm_head", std::make_shared<nn::Linear>(c.hidden_size, 2, gen));
  }

  const Config& config() const { return config_; }

  /// The query tokens for a batch of B: [B, Nq, H] (a broadcast view).
  Tensor queries(std::int64_t B) const {
    return query_tokens.expand({B, config_.num_query_tokens, config_.hidden_size});
  }

  /// ln_graph, pass (a) (with the cache pass (d) needs), graph_proj, L2 normalisation.
  MoleculeFeatures encode_molecules(const MoleculeBatch& batch, bool cache = true) const {
    MOLM_CHECK(batch.rows.dim() == 3, "qformer::Stage1", "expects Uni-Mol rows [B, N, {}], got {}",
               config_.encoder_width, batch.rows.shape().str());
    MoleculeFeatures f;
    f.molecule = ln_graph->forward(batch.rows);
    f.padding = batch.padding;
    f.query = Qformer->query_pass(queries(batch.rows.shape()[0]), f.molecule, batch.padding, cache);
    f.features = normalize(graph_proj->forward(f.query.hidden));
    return f;
  }

  /// Pass (b), text_proj of [CLS], L2 normalisation.
  TextFeatures encode_texts(const TextBatch& batch) const {
    TextFeatures f;
    f.hidden = Qformer->text_pass(batch.ids, batch.mask);
    f.features = normalize(text_proj->forward(f.hidden.select(1, 0)));
    return f;
  }

  /// Pass (c) and gtm_head averaged over the query rows: [B, 2] logits (class 1 = "matches"), for
  /// texts and molecules already paired row by row. `molecule` is after ln_graph.
  Tensor match_logits(const TextBatch& texts, const Tensor& molecule, const Tensor& padding) const {
    const std::int64_t B = texts.ids.shape()[0], Nq = config_.num_query_tokens;
    const Tensor h = Qformer->matching_pass(queries(B), texts.ids, texts.mask, molecule, padding);
    return mean(gtm_head->forward(h.narrow(1, 0, Nq)), {1});
  }

  /// The 3B pairs of the matching loss, in the reference's order: texts [text, text, negative text],
  /// molecules [molecule, negative molecule, molecule] (`molecule` after ln_graph, with its mask).
  struct MatchingPairs {
    TextBatch texts;
    Tensor molecule, padding;
  };
  static MatchingPairs matching_pairs(const TextBatch& texts, const Tensor& molecule, const Tensor& padding,
                                      const HardNegatives& negatives) {
    const Tensor& ng = negatives.graph_for_text;
    const Tensor& nt = negatives.text_for_graph;
    return {{cat({texts.ids, texts.ids, index_select(texts.ids, 0, nt)}, 0),
             cat({texts.mask, texts.mask, index_select(texts.mask, 0, nt)}, 0)},
            cat({molecule, index_select(molecule, 0, ng), molecule}, 0),
            padding.defined() ? cat({padding, index_select(padding, 0, ng), padding}, 0) : Tensor()};
  }

  /// The decoder input of pass (d): the text ids with position 0 ([CLS]) replaced by [DEC].
  Tensor decoder_ids(const Tensor& ids) const {
    Tensor d = ids.to(DType::i64).clone();
    d.narrow(1, 0, 1).fill_(static_cast<double>(config_.dec_token_id));
    return d;
  }

  /// Pass (d)'s logits for the texts, given pass (a)'s cache of the same molecules.
  Tensor lm_logits(const TextBatch& texts, const MoleculeFeatures& molecules) const {
    return Qformer->generation_pass(decoder_ids(texts.ids), texts.mask, molecules.query.cache);
  }

  /// LM loss (§4.3): labels = decoder ids with padding ignored, shifted by one; label smoothing.
  Tensor lm_loss(const Tensor& logits, const Tensor& decoder_input) const {
    const std::int64_t T = logits.shape()[1];
    Tensor labels = masked_fill(decoder_input, eq(decoder_input, scalar_tensor(config_.pad_token_id, DType::i64)), -100);
    CrossEntropyOptions o;
    o.label_smoothing = config_.lm_label_smoothing;
    return cross_entropy(logits.narrow(1, 0, T - 1), labels.narrow(1, 1, T - 1), o);
  }

  /// The stage-1 training step's forward: the three losses and what they were computed from.
  Stage1Output forward(const MoleculeBatch& molecules, const TextBatch& texts, const Stage1Options& options = {}) const {
    constexpr const char* op = "qformer::Stage1";
    const std::int64_t B = molecules.rows.shape()[0];
    MOLM_CHECK(texts.ids.dim() == 2 && texts.ids.shape()[0] == B, op, "{} molecules but text ids {}", B,
               texts.ids.shape().str());
    Stage1Output out;
    out.molecules = encode_molecules(molecules, options.lm);
    out.texts = encode_texts(texts);

    // GTC over the gathered features.
    const GatheredFeatures all = options.gather(out.molecules.features, out.texts.features);
    out.contrast = contrastive_loss(out.molecules.features, out.texts.features, all, config_.temperature);
    out.loss_gtc = out.contrast.loss;
    out.loss = out.loss_gtc;

    // GTM on 3B pairs: (text, molecule) positive, (text, negative molecule), (negative text, molecule).
    if (options.gtm) {
      if (options.negatives) {
        out.negatives = *options.negatives;
      } else {
        MOLM_CHECK(options.sampler, op, "the matching loss samples hard negatives: pass Stage1Options::sampler");
        out.negatives = sample_hard_negatives(out.contrast, *options.sampler);
      }
      check_negatives(out.negatives, B);
      const MatchingPairs p = matching_pairs(texts, out.molecules.molecule, molecules.padding, out.negatives);
      out.gtm_logits = match_logits(p.texts, p.molecule, p.padding);
      Tensor labels = zeros({3 * B}, DType::i64);
      labels.narrow(0, 0, B).fill_(1.0);
      out.loss_gtm = cross_entropy(out.gtm_logits, labels);
      out.loss = out.loss + out.loss_gtm;
    }

    // LM: [DEC] text attending to the cached queries of pass (a).
    if (options.lm) {
      const Tensor dec = decoder_ids(texts.ids);
      out.lm_logits = Qformer->generation_pass(dec, texts.mask, out.molecules.query.cache);
      out.loss_lm = lm_loss(out.lm_logits, dec);
      out.loss = out.loss + out.loss_lm;
    }
    return out;
  }

  Tensor query_tokens;  ///< [1, Nq, H]
  std::shared_ptr<nn::LayerNorm> ln_graph;
  std::shared_ptr<QFormer> Qformer;
  std::shared_ptr<nn::Linear> graph_proj, text_proj, gtm_head;

 private:
  static void check_negatives(const HardNegatives& n, std::int64_t B) {
    for (const Tensor* t : {&n.graph_for_text, &n.text_for_graph}) {
      MOLM_CHECK(t->defined() && t->dtype() == DType::i64 && t->shape() == Shape({B}), "qformer::Stage1",
                 "hard negatives must be i64 [{}]", B);
      const Tensor c = t->contiguous();
      for (std::int64_t i = 0; i < B; ++i)
        MOLM_CHECK(c.data<std::int64_t>()[i] >= 0 && c.data<std::int64_t>()[i] < B, "qformer::Stage1",
                   "hard negative {} of sample {} is outside the batch of {}", c.data<std::int64_t>()[i], i, B);
    }
  }

  Config config_;
};

}  // namespace molm::models::qformer
