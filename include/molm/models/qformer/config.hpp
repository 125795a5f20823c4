// Q-Former configuration and its presets (reference-model.md §3.1). Field names are those of a
// Hugging Face BERT config.json where BERT has the field, so a BERT folder's config.json reads
// straight into it (models/qformer/from_bert.hpp); the Q-Former's own fields follow LAVIS' names.
#pragma once

#include "molm/core/error.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>

namespace molm::models::qformer {

struct Config {
  // BERT (SciBERT in the reference)
  std::int64_t num_hidden_layers = 12;
  std::int64_t hidden_size = 768;
  std::int64_t num_attention_heads = 12;
  std::int64_t intermediate_size = 3072;
  std::int64_t vocab_size = 31091;  ///< WordPiece vocabulary + [DEC]
  std::int64_t max_position_embeddings = 512;
  double layer_norm_eps = 1e-12;
  double hidden_dropout_prob = 0.1;           ///< training only
  double attention_probs_dropout_prob = 0.1;  ///< training only
  std::int64_t pad_token_id = 0;
  std::int64_t dec_token_id = 31090;  ///< [DEC], the generation pass's first token (§4.3)
  // Q-Former
  std::int64_t encoder_width = 512;      ///< width of the molecule rows cross-attention reads (Uni-Mol's C)
  std::int64_t num_query_tokens = 8;     ///< Nq
  std::int64_t cross_attention_freq = 2; ///< layer i cross-attends when i % freq == 0
  std::int64_t embed_dim = 256;          ///< graph_proj / text_proj output (contrastive space)
  double ln_graph_eps = 1e-5;            ///< ln_graph, a plain nn.LayerNorm over encoder_width
  double temperature = 0.1;              ///< τ of the contrastive logits, fixed (§4.1)
  double lm_label_smoothing = 0.1;       ///< of the generation loss (§4.3)
  /// false (default): the reference's inverted cross-attention mask (§3.4), which the released
  /// weights were trained under. true: queries attend to real atoms only.
  bool corrected_cross_attention_mask = false;

  std::int64_t head_dim() const { return hidden_size / num_attention_heads; }
  bool has_cross_attention(std::int64_t layer) const { return layer % cross_attention_freq == 0; }

  void validate() const {
    constexpr const char* op = "qformer";
    MOLM_CHECK(num_hidden_layers >= 0 && hidden_size > 0 && num_attention_heads > 0 &&
                   hidden_size % num_attention_heads == 0,
               op, "config: hidden_size {} must be a positive multiple of num_attention_heads {}", hidden_size,
               num_attention_heads);
    MOLM_CHECK(intermediate_size > 0 && vocab_size > 0 && max_position_embeddings > 0 && encoder_width > 0 &&
                   num_query_tokens > 0 && embed_dim > 0 && cross_attention_freq > 0,
               op, "config: sizes must be positive (intermediate {}, vocab {}, positions {}, encoder_width {}, "
               "queries {}, embed_dim {}, cross_attention_freq {})", intermediate_size, vocab_size,
               max_position_embeddings, encoder_width, num_query_tokens, embed_dim, cross_attention_freq);
    MOLM_CHECK(pad_token_id >= 0 && pad_token_id < vocab_size && dec_token_id >= 0 && dec_token_id < vocab_size, op,
               "config: pad_token_id {} and dec_token_id {} must lie in the vocabulary of {}", pad_token_id,
               dec_token_id, vocab_size);
    for (double p : {hidden_dropout_prob, attention_probs_dropout_prob})
      MOLM_CHECK(p >= 0 && p < 1, op, "config: dropout rates must lie in [0, 1), got {}", p);
    MOLM_CHECK(temperature > 0, op, "config: temperature must be positive, got {}", temperature);
    MOLM_CHECK(lm_label_smoothing >= 0 && lm_label_smoothing <= 1, op,
               "config: lm_label_smoothing must lie in [0, 1], got {}", lm_label_smoothing);
  }

  /// 3D-MoLM's Q-Former: SciBERT-base with 6 cross-attention blocks, 8 queries (§3.1, §9.2).
  static Config paper() { return {}; }
  /// For CPU training (`molm demo`): 4 layers, 256 wide, Uni-Mol `small`'s 128-wide rows.
  static Config small() {
    Config c;
    c.num_hidden_layers = 4;
    c.hidden_size = 256;
    c.num_attention_heads = 4;
    c.intermediate_size = 1024;
    c.encoder_width = 128;
    c.embed_dim = 128;
    return c;
  }
  /// For unit and golden tests: 4 layers, 32 wide, 4 queries, 61 tokens ([DEC] = 60).
  static Config tiny() {
    Config c;
    c.num_hidden_layers = 4;
    c.hidden_size = 32;
    c.num_attention_heads = 4;
    c.intermediate_size = 64;
    c.vocab_size = 61;
    c.dec_token_id = 60;
    c.max_position_embeddings = 32;
    c.encoder_width = 16;
    c.num_query_tokens = 4;
    c.embed_dim = 16;
    return c;
  }
  static Config preset(const std::string& name) {
    if (name == "paper") return paper();
    if (name == "small") return small();
    if (name == "tiny") return tiny();
    MOLM_THROW("qformer", "unknown preset '{}' (presets: tiny, small, paper)", name);
  }
};

inline void to_json(nlohmann::json& j, const Config& c) {
  j = {{"num_hidden_layers", c.num_hidden_layers},
       {"hidden_size", c.hidden_size},
       {"num_attention_heads", c.num_attention_heads},
       {"intermediate_size", c.intermediate_size},
       {"vocab_size", c.vocab_size},
       {"max_position_embeddings", c.max_position_embeddings},
       {"layer_norm_eps", c.layer_norm_eps},
       {"hidden_dropout_prob", c.hidden_dropout_prob},
       {"attention_probs_dropout_prob", c.attention_probs_dropout_prob},
       {"pad_token_id", c.pad_token_id},
       {"dec_token_id", c.dec_token_id},
       {"encoder_width", c.encoder_width},
       {"num_query_tokens", c.num_query_tokens},
       {"cross_attention_freq", c.cross_attention_freq},
       {"embed_dim", c.embed_dim},
       {"ln_graph_eps", c.ln_graph_eps},
       {"temperature", c.temperature},
       {"lm_label_smoothing", c.lm_label_smoothing},
       {"corrected_cross_attention_mask", c.corrected_cross_attention_mask}};
}

/// Fields absent from `j` keep their paper values; unknown fields are an error (a typo would
/// otherwise silently build a different model).
inline void from_json(const nlohmann::json& j, Config& c) {
  MOLM_CHECK(j.is_object(), "qformer", "config must be a JSON object, got {}", j.dump());
  const nlohmann::json known = c;
  for (const auto& [key, value] : j.items()) {
    MOLM_CHECK(known.contains(key), "qformer", "config: unknown field '{}'", key);
    (void)value;
  }
  const auto get = [&](const char* key, auto& field) {
    if (j.contains(key)) field = j.at(key).get<std::remove_reference_t<decltype(field)>>();
  };
  get("num_hidden_layers", c.num_hidden_layers);
  get("hidden_size", c.hidden_size);
  get("num_attention_heads", c.num_attention_heads);
  get("intermediate_size", c.intermediate_size);
  get("vocab_size", c.vocab_size);
  get("max_position_embeddings", c.max_position_embeddings);
  get("layer_norm_eps", c.layer_norm_eps);
  get("hidden_dropout_prob", c.hidden_dropout_prob);
  get("attention_probs_dropout_prob", c.attention_probs_dropout_prob);
  get("pad_token_id", c.pad_token_id);
  get("dec_token_id", c.dec_token_id);
  get("encoder_width", c.encoder_width);
  get("num_query_tokens", c.num_query_tokens);
  get("cross_attention_freq", c.cross_attention_freq);
  get("embed_dim", c.embed_dim);
  get("ln_graph_eps", c.ln_graph_eps);
  get("temperature", c.temperature);
  get("lm_label_smoothing", c.lm_label_smoothing);
  get("corrected_cross_attention_mask", c.corrected_cross_attention_mask);
  c.validate();
}

}  // namespace molm::models::qformer
