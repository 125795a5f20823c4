// A stage-1 model initialised from a Hugging Face BERT folder, as 3D-MoLM initialises its Q-Former
// from SciBERT (reference-model.md §3.3, §9.4):
//
//   qformer::BertInitReport report;
//   auto model = qformer::stage1_from_bert("scibert_scivocab_uncased/", qformer::Config::paper(), gen, &report);
//
// The folder holds config.json and model.safetensors (or pytorch_model.bin, or a sharded index).
// BERT's sizes come from config.json and the weights; the Q-Former's own fields (encoder_width,
// num_query_tokens, cross_attention_freq, embed_dim, ...) from `qformer_fields`. Mapping:
//   [bert.]embeddings.*, [bert.]encoder.layer.i.*  → Qformer.bert.…   (word embeddings + one [DEC] row)
//   cls.predictions.*                             → Qformer.cls.predictions.… (bias + a 0 for [DEC])
//   LayerNorm gamma / beta (old TF conversions)   → weight / bias
//   token-type table, pooler, cls.seq_relationship, position_ids → dropped (listed in the report)
// then each layer's intermediate_query / output_query are copied from intermediate / output. What
// BERT does not provide keeps its §3.3 initialisation and is listed as created: the [DEC] row
// (N(0, 0.02)), cross-attention (N(0, 0.02), zero biases, LayerNorm (1, 0)), query tokens, ln_graph,
// graph_proj, text_proj, gtm_head, and the MLM head when the folder has none (a BertModel).
// A BERT tensor that fits nowhere, or has the wrong shape, is an error naming it.
#pragma once

#include "molm/io/checkpoint_reader.hpp"
#include "molm/models/qformer/stage1.hpp"

#include <fstream>
#include <string>
#include <vector>

namespace molm::models::qformer {

struct BertInitReport {
  Config config;
  std::vector<std::string> loaded;   ///< Q-Former names filled from BERT
  std::vector<std::string> copied;   ///< `_query` tensors copied from their text twins
  std::vector<std::string> created;  ///< Q-Former names BERT does not provide (initialised as §3.3)
  std::vector<std::string> dropped;  ///< BERT names the Q-Former has no use for
};

/// The Q-Former configuration of a BERT config.json: BERT's sizes, one more token ([DEC], the last
/// id), and the Q-Former fields of `qformer_fields`.
inline Config config_from_bert(const nlohmann::json& bert, const Config& qformer_fields) {
  constexpr const char* op = "qformer::from_bert";
  MOLM_CHECK(bert.is_object(), op, "config.json must be a JSON object");
  const std::string act = bert.value("hidden_act", "gelu");
  MOLM_CHECK(act == "gelu", op, "config.json: hidden_act '{}' is not supported (the Q-Former uses exact GELU)", act);
  const std::string pos = bert.value("position_embedding_type", "absolute");
  MOLM_CHECK(pos == "absolute", op, "config.json: position_embedding_type '{}' is not supported", pos);
  Config c = qformer_fields;
  const auto need = [&](const char* key) -> const nlohmann::json& {
    MOLM_CHECK(bert.contains(key), op, "config.json has no '{}'", key);
    return bert.at(key);
  };
  c.num_hidden_layers = need("num_hidden_layers").get<std::int64_t>();
  c.hidden_size = need("hidden_size").get<std::int64_t>();
  c.num_attention_heads = need("num_attention_heads").get<std::int64_t>();
  c.intermediate_size = need("intermediate_size").get<std::int64_t>();
  c.max_position_embeddings = need("max_position_embeddings").get<std::int64_t>();
  c.vocab_size = need("vocab_size").get<std::int64_t>() + 1;
  c.dec_token_id = c.vocab_size - 1;
  c.layer_norm_eps = bert.value("layer_norm_eps", 1e-12);
  c.hidden_dropout_prob = bert.value("hidden_dropout_prob", 0.1);
  c.attention_probs_dropout_prob = bert.value("attention_probs_dropout_prob", 0.1);
  c.pad_token_id = bert.value("pad_token_id", std::int64_t{0});
  c.validate();
  return c;
}

namespace detail {

inline bool starts_with(const std::string& s, const std::string& p) { return s.rfind(p, 0) == 0; }
inline bool ends_with(const std::string& s, const std::string& p) {
  return s.size() >= p.size() && s.compare(s.size() - p.size(), p.size(), p) == 0;
}

/// The weights file of a BERT folder.
inline std::filesystem::path bert_weights(const std::filesystem::path& folder) {
  for (const char* f : {"model.safetensors", "model.safetensors.index.json", "pytorch_model.bin",
                        "pytorch_model.bin.index.json"})
    if (std::filesystem::is_regular_file(folder / f)) return folder / f;
  MOLM_THROW("qformer::from_bert", "{}: no model.safetensors, pytorch_model.bin or index in the folder",
             folder.string());
}

/// The Q-Former name of a BERT tensor name, or "" for the ones the Q-Former drops.
inline std::string qformer_name(std::string name) {
  if (ends_with(name, ".gamma")) name = name.substr(0, name.size() - 6) + ".weight";
  else if (ends_with(name, ".beta")) name = name.substr(0, name.size() - 5) + ".bias";
  if (starts_with(name, "bert.")) name = name.substr(5);
  if (starts_with(name, "cls.seq_relationship.") || starts_with(name, "pooler.") ||
      name == "embeddings.token_type_embeddings.weight" || name == "embeddings.position_ids")
    return "";
  if (starts_with(name, "cls.predictions.")) {
    if (name == "cls.predictions.decoder.weight") return "";  // tied to the word embeddings
    if (name == "cls.predictions.decoder.bias") return "";    // the same tensor as cls.predictions.bias
    return "Qformer." + name;
  }
  return "Qformer.bert." + name;
}

}  // namespace detail

/// A stage-1 model whose Q-Former starts from the BERT folder `folder` (see the top of this file).
inline std::shared_ptr<Stage1> stage1_from_bert(const std::filesystem::path& folder, const Config& qformer_fields,
                                                Generator& gen, BertInitReport* report = nullptr,
                                                Generator* dropout_gen = nullptr) {
  constexpr const char* op = "qformer::from_bert";
  std::ifstream in(folder / "config.json");
  MOLM_CHECK(in, op, "{}: cannot read config.json", folder.string());
  nlohmann::json bert_config;
  try {
    bert_config = nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    MOLM_THROW(op, "{}: config.json is not valid JSON: {}", folder.string(), e.what());
  }
  BertInitReport r;
  r.config = config_from_bert(bert_config, qformer_fields);
  auto model = std::make_shared<Stage1>(r.config, gen, dropout_gen);

  const auto reader = io::CheckpointReader::open(detail::bert_weights(folder));
  const nn::StateDict own = model->state_dict();
  std::vector<std::string> problems;
  std::unordered_set<std::string> filled;
  {
    no_grad guard;
    for (const auto& t : reader.listing()) {
      const std::string name = detail::qformer_name(t.name);
      if (name.empty()) {
        r.dropped.push_back(t.name);
        continue;
      }
      const Tensor* dst = own.find(name);
      if (!dst) {
        problems.push_back(fmt::format("{} (as {}): the Q-Former has no such tensor", t.name, name));
        continue;
      }
      Tensor src = reader.tensor(t.name);
      Tensor target = *dst;
      const bool grows = name == "Qformer.bert.embeddings.word_embeddings.weight" || name == "Qformer.cls.predictions.bias";
      if (grows && src.dim() >= 1 && src.shape()[0] + 1 == dst->shape()[0]) {
        target = dst->narrow(0, 0, src.shape()[0]);  // the [DEC] entry keeps its initial value
        r.created.push_back(fmt::format("{} [{}] ([DEC])", name, src.shape()[0]));
      }
      if (src.shape() != target.shape()) {
        problems.push_back(fmt::format("{} (as {}): shape {}, the Q-Former expects {}", t.name, name, src.shape().str(),
                                       target.shape().str()));
        continue;
      }
      target.copy_(src);
      if (filled.insert(name).second) r.loaded.push_back(name);
    }
    MOLM_CHECK(problems.empty(), op, "{}: {} BERT tensor(s) do not fit the Q-Former:\n  {}", folder.string(),
               problems.size(), fmt::join(problems, "\n  "));
    // §3.3: every `_query` tensor takes the value of its text twin (after loading).
    for (const auto& [name, t] : own) {
      const auto at = name.find("_query.");
      if (at == std::string::npos) continue;
      std::string twin = name;
      twin.erase(at, 6);
      Tensor(t).copy_(*own.find(twin));
      r.copied.push_back(name);
      filled.insert(name);
    }
  }
  for (const auto& [alias, target] : tied_aliases())  // a tied alias counts as what it aliases
    if (filled.count(target)) filled.insert(alias);
  for (const auto& [name, t] : own)
    if (!filled.count(name)) r.created.push_back(name);
  if (report) *report = std::move(r);
  return model;
}

}  // namespace molm::models::qformer
