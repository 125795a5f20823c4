// Uni-Mol encoder configuration and the three presets (docs/architecture.md "Models and sizes";
// `paper` is the checkpoint 3D-MoLM uses, reference-model.md §2.3 and §9.1).
#pragma once

#include "molm/core/error.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>

namespace molm::models::unimol {

struct Config {
  std::int64_t layers = 15;
  std::int64_t embed_dim = 512;
  std::int64_t heads = 64;
  std::int64_t ffn_dim = 2048;
  std::int64_t gaussian_kernels = 128;  ///< K of the distance encoding
  std::int64_t vocab_size = 31;         ///< 30 dictionary symbols + [MASK]; edge types = vocab_size²
  std::int64_t padding_idx = 0;         ///< [PAD]
  double layer_norm_eps = 1e-5;
  double emb_dropout = 0.1;        ///< after the embedding LayerNorm (training only)
  double dropout = 0.1;            ///< on each residual branch (training only)
  double attention_dropout = 0.1;  ///< on the attention probabilities (training only)
  double activation_dropout = 0.0; ///< after the FFN's GELU (training only)

  std::int64_t head_dim() const { return embed_dim / heads; }
  std::int64_t edge_types() const { return vocab_size * vocab_size; }

  void validate() const {
    MOLM_CHECK(layers >= 0 && embed_dim > 0 && heads > 0 && embed_dim % heads == 0, "unimol",
               "config: embed_dim {} must be a positive multiple of heads {}", embed_dim, heads);
    MOLM_CHECK(ffn_dim > 0 && gaussian_kernels > 0 && vocab_size > 0, "unimol",
               "config: ffn_dim {}, gaussian_kernels {} and vocab_size {} must be positive", ffn_dim,
               gaussian_kernels, vocab_size);
    MOLM_CHECK(padding_idx >= 0 && padding_idx < vocab_size, "unimol", "config: padding_idx {} is outside the vocabulary",
               padding_idx);
    for (double p : {emb_dropout, dropout, attention_dropout, activation_dropout})
      MOLM_CHECK(p >= 0 && p < 1, "unimol", "config: dropout rates must lie in [0, 1), got {}", p);
  }

  /// 3D-MoLM's encoder: 15 layers, 512 wide, 64 heads of 8, FFN 2048, 128 kernels; 47,330,626 parameters.
  static Config paper() { return {}; }
  /// For CPU training (`molm demo`): 4 layers, 128 wide, 16 heads of 8.
  static Config small() {
    Config c;
    c.layers = 4;
    c.embed_dim = 128;
    c.heads = 16;
    c.ffn_dim = 512;
    return c;
  }
  /// For unit and golden tests: 2 layers, 32 wide, 4 heads of 8, 16 kernels.
  static Config tiny() {
    Config c;
    c.layers = 2;
    c.embed_dim = 32;
    c.heads = 4;
    c.ffn_dim = 64;
    c.gaussian_kernels = 16;
    return c;
  }
  static Config preset(const std::string& name) {
    if (name == "paper") return paper();
    if (name == "small") return small();
    if (name == "tiny") return tiny();
    MOLM_THROW("unimol", "unknown preset '{}' (presets: tiny, small, paper)", name);
  }
};

inline void to_json(nlohmann::json& j, const Config& c) {
  j = {{"layers", c.layers},
       {"embed_dim", c.embed_dim},
       {"heads", c.heads},
       {"ffn_dim", c.ffn_dim},
       {"gaussian_kernels", c.gaussian_kernels},
       {"vocab_size", c.vocab_size},
       {"padding_idx", c.padding_idx},
       {"layer_norm_eps", c.layer_norm_eps},
       {"emb_dropout", c.emb_dropout},
       {"dropout", c.dropout},
       {"attention_dropout", c.attention_dropout},
       {"activation_dropout", c.activation_dropout}};
}

/// Fields absent from `j` keep their paper values; unknown fields are an error (a typo would
/// otherwise silently build a different model).
inline void from_json(const nlohmann::json& j, Config& c) {
  MOLM_CHECK(j.is_object(), "unimol", "config must be a JSON object, got {}", j.dump());
  const nlohmann::json known = c;
  for (const auto& [key, value] : j.items()) {
    MOLM_CHECK(known.contains(key), "unimol", "config: unknown field '{}'", key);
    (void)value;
  }
  const auto get = [&](const char* key, auto& field) {
    if (j.contains(key)) field = j.at(key).get<std::remove_reference_t<decltype(field)>>();
  };
  get("layers", c.layers);
  get("embed_dim", c.embed_dim);
  get("heads", c.heads);
  get("ffn_dim", c.ffn_dim);
  get("gaussian_kernels", c.gaussian_kernels);
  get("vocab_size", c.vocab_size);
  get("padding_idx", c.padding_idx);
  get("layer_norm_eps", c.layer_norm_eps);
  get("emb_dropout", c.emb_dropout);
  get("dropout", c.dropout);
  get("attention_dropout", c.attention_dropout);
  get("activation_dropout", c.activation_dropout);
  c.validate();
}

}  // namespace molm::models::unimol
