// Llama configuration and its presets (reference-model.md §5.1). Field names and defaults are those
// of transformers 4.35's LlamaConfig, so an HF folder's config.json reads straight into it and a
// molm Llama directory's config.json loads in transformers.
//
//   paper  Llama-2-7B as 3D-MoLM ships it: 32 layers, 4096 wide, 32 heads, FFN 11008, rms_norm_eps
//          1e-6, untied lm_head, vocabulary resized to 32,002 ([PAD] 32000, <mol> 32001; §5.2)
//   small  for CPU training (`molm demo`): 6 layers, 288 wide, 6 heads, FFN 768, tied embeddings,
//          the same 32,002-token vocabulary (15.2 M parameters; llama2.c's stories15M shape)
//   tiny   for unit and golden tests: 2 layers, 32 wide, 4 heads over 2 key/value heads, vocab 96
#pragma once

#include "molm/core/error.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace molm::models::llama {

struct Config {
  std::int64_t vocab_size = 32000;
  std::int64_t hidden_size = 4096;         ///< C
  std::int64_t intermediate_size = 11008;  ///< F, the SwiGLU width
  std::int64_t num_hidden_layers = 32;
  std::int64_t num_attention_heads = 32;   ///< H
  std::int64_t num_key_value_heads = 32;   ///< grouped-query attention when < H
  std::int64_t max_position_embeddings = 2048;
  double rms_norm_eps = 1e-6;
  double rope_theta = 10000.0;
  bool tie_word_embeddings = false;  ///< lm_head.weight is model.embed_tokens.weight
  std::int64_t bos_token_id = 1;
  std::int64_t eos_token_id = 2;
  std::optional<std::int64_t> pad_token_id;  ///< HF's null when the model has none

  std::int64_t head_dim() const { return hidden_size / num_attention_heads; }
  std::int64_t kv_dim() const { return num_key_value_heads * head_dim(); }

  /// Parameters of the model this config builds (lm_head counted once when tied).
  std::int64_t parameter_count() const {
    const std::int64_t C = hidden_size, F = intermediate_size;
    const std::int64_t layer = C * C * 2 + 2 * C * kv_dim() + 3 * C * F + 2 * C;
    return vocab_size * C * (tie_word_embeddings ? 1 : 2) + num_hidden_layers * layer + C;
  }

  void validate() const {
    constexpr const char* op = "llama";
    MOLM_CHECK(vocab_size > 0 && hidden_size > 0 && intermediate_size > 0 && num_hidden_layers >= 0 &&
                   max_position_embeddings > 0,
               op, "config: sizes must be positive (vocab {}, hidden {}, intermediate {}, layers {}, positions {})",
               vocab_size, hidden_size, intermediate_size, num_hidden_layers, max_position_embeddings);
    MOLM_CHECK(num_attention_heads > 0 && hidden_size % num_attention_heads == 0 && head_dim() % 2 == 0, op,
               "config: hidden_size {} must be a multiple of num_attention_heads {} with an even head size",
               hidden_size, num_attention_heads);
    MOLM_CHECK(num_key_value_heads > 0 && num_attention_heads % num_key_value_heads == 0, op,
               "config: num_attention_heads {} must be a multiple of num_key_value_heads {}", num_attention_heads,
               num_key_value_heads);
    MOLM_CHECK(rms_norm_eps > 0 && rope_theta > 0, op, "config: rms_norm_eps {} and rope_theta {} must be positive",
               rms_norm_eps, rope_theta);
    for (std::int64_t id : {bos_token_id, eos_token_id, pad_token_id.value_or(0)})
      MOLM_CHECK(id >= 0 && id < vocab_size, op, "config: special token id {} is outside the vocabulary of {}", id,
                 vocab_size);
  }

  static Config paper() {
    Config c;
    c.vocab_size = 32002;
    return c;
  }
  static Config small() {
    Config c;
    c.vocab_size = 32002;
    c.hidden_size = 288;
    c.intermediate_size = 768;
    c.num_hidden_layers = 6;
    c.num_attention_heads = 6;
    c.num_key_value_heads = 6;
    c.max_position_embeddings = 1024;
    c.tie_word_embeddings = true;
    return c;
  }
  static Config tiny() {
    Config c;
    c.vocab_size = 96;
    c.hidden_size = 32;
    c.intermediate_size = 64;
    c.num_hidden_layers = 2;
    c.num_attention_heads = 4;
    c.num_key_value_heads = 2;
    c.max_position_embeddings = 128;
    c.pad_token_id = 0;
    return c;
  }
  static Config preset(const std::string& name) {
    if (name == "paper") return paper();
    if (name == "small") return small();
    if (name == "tiny") return tiny();
    MOLM_THROW("llama", "unknown preset '{}' (presets: tiny, small, paper)", name);
  }
};

/// The config.json transformers writes for this model (its LlamaConfig fields, 4.35 names).
inline void to_json(nlohmann::json& j, const Config& c) {
  j = {{"architectures", {"LlamaForCausalLM"}},
       {"model_type", "llama"},
       {"vocab_size", c.vocab_size},
       {"hidden_size", c.hidden_size},
       {"intermediate_size", c.intermediate_size},
       {"num_hidden_layers", c.num_hidden_layers},
       {"num_attention_heads", c.num_attention_heads},
       {"num_key_value_heads", c.num_key_value_heads},
       {"max_position_embeddings", c.max_position_embeddings},
       {"hidden_act", "silu"},
       {"rms_norm_eps", c.rms_norm_eps},
       {"rope_theta", c.rope_theta},
       {"rope_scaling", nullptr},
       {"attention_bias", false},
       {"tie_word_embeddings", c.tie_word_embeddings},
       {"bos_token_id", c.bos_token_id},
       {"eos_token_id", c.eos_token_id},
       {"pad_token_id", c.pad_token_id ? nlohmann::json(*c.pad_token_id) : nlohmann::json(nullptr)}};
}

namespace detail {
/// config.json fields that do not change the computation molm does (HF bookkeeping, training-only
/// or cache switches); read and ignored.
inline const std::set<std::string>& inert_config_fields() {
  static const std::set<std::string> s = {
      "architectures", "model_type", "torch_dtype", "transformers_version", "initializer_range", "use_cache",
      "pretraining_tp", "attention_dropout", "hidden_dropout", "output_attentions", "output_hidden_states",
      "return_dict", "tokenizer_class", "bad_words_ids", "max_length", "min_length", "num_beams", "do_sample",
      "temperature", "top_k", "top_p", "repetition_penalty", "length_penalty", "early_stopping",
      "num_return_sequences", "is_decoder", "is_encoder_decoder", "task_specific_params", "problem_type",
      "id2label", "label2id", "torchscript", "use_return_dict", "tie_encoder_decoder", "chunk_size_feed_forward",
      "pruned_heads", "add_cross_attention", "cross_attention_hidden_size", "finetuning_task", "prefix",
      "sep_token_id", "decoder_start_token_id", "quantization_config", "model_name",
      "molm_version"};  // the last: written by io::save_checkpoint
  return s;
}
}  // namespace detail

/// Reads an HF Llama config.json (or a molm one, which is the same). Absent fields take
/// LlamaConfig's defaults (the 3D-MoLM folder has no max_position_embeddings and no rope_theta).
/// Fields that would change the model in ways molm does not implement (rope_scaling, a hidden_act
/// other than silu, attention biases) are errors; fields starting with '_' and the HF bookkeeping of
/// detail::inert_config_fields are ignored; any other field is an error naming it.
inline void from_json(const nlohmann::json& j, Config& c) {
  constexpr const char* op = "llama";
  MOLM_CHECK(j.is_object(), op, "config must be a JSON object, got {}", j.dump());
  const nlohmann::json known = c;
  for (const auto& [key, value] : j.items()) {
    if (key.starts_with("_") || detail::inert_config_fields().count(key)) continue;
    MOLM_CHECK(known.contains(key), op, "config: unknown field '{}' (value {})", key, value.dump());
  }
  if (j.contains("model_type"))
    MOLM_CHECK(j.at("model_type") == "llama", op, "config: model_type is {}, not \"llama\"", j.at("model_type").dump());
  if (j.contains("hidden_act"))
    MOLM_CHECK(j.at("hidden_act") == "silu", op, "config: hidden_act {} is not supported (Llama uses \"silu\")",
               j.at("hidden_act").dump());
  if (j.contains("rope_scaling"))
    MOLM_CHECK(j.at("rope_scaling").is_null(), op, "config: rope_scaling {} is not supported",
               j.at("rope_scaling").dump());
  if (j.contains("attention_bias"))
    MOLM_CHECK(j.at("attention_bias") == false, op, "config: attention_bias true is not supported");
  const auto get = [&](const char* key, auto& field) {
    if (j.contains(key) && !j.at(key).is_null()) field = j.at(key).get<std::remove_reference_t<decltype(field)>>();
  };
  get("vocab_size", c.vocab_size);
  get("hidden_size", c.hidden_size);
  get("intermediate_size", c.intermediate_size);
  get("num_hidden_layers", c.num_hidden_layers);
  get("num_attention_heads", c.num_attention_heads);
  c.num_key_value_heads = c.num_attention_heads;  // LlamaConfig: None means no grouping
  get("num_key_value_heads", c.num_key_value_heads);
  get("max_position_embeddings", c.max_position_embeddings);
  get("rms_norm_eps", c.rms_norm_eps);
  get("rope_theta", c.rope_theta);
  get("tie_word_embeddings", c.tie_word_embeddings);
  get("bos_token_id", c.bos_token_id);
  get("eos_token_id", c.eos_token_id);
  c.pad_token_id.reset();
  if (j.contains("pad_token_id") && !j.at("pad_token_id").is_null()) c.pad_token_id = j.at("pad_token_id").get<std::int64_t>();
  c.validate();
}

}  // namespace molm::models::llama
