// Stage-1 checkpoints in and out: 3D-MoLM's released Lightning files (stage1.ckpt, stage1-ft.ckpt;
// reference-model.md §9.2) and molm stage-1 directories, which hold the frozen Uni-Mol encoder
// beside the trainable stage-1 model (what retrieval needs from molecules to scores).
//
//   auto model = qformer::load_released_stage1("stage1.ckpt");              // strict, bf16 → f32
//   qformer::convert_released_stage1("stage1.ckpt", "mol_pre_no_h_220816.pt", "stage1-molm/", "vocab.txt");
//   auto ck = qformer::load_stage1("stage1-molm/");                         // ck.encoder, ck.model, ck.vocab
//
// Released layout: `state_dict` keys all start with `blip2qformer.`; the frozen Uni-Mol and every
// buffer were removed; the decoder is tied to the word embeddings and `decoder.bias` is
// `predictions.bias`; bfloat16; the Lightning `hyper_parameters` (argparse objects) are not needed
// and not read. The configuration is read off the shapes; the head count is not in them (BERT's
// head width is 64: hidden / 64 unless given).
//
// molm directory (io/checkpoint_dir.hpp, written atomically): config.json {"model": "molm-stage1",
// "unimol": …, "qformer": …}, model.safetensors with `graph_encoder.<Uni-Mol name>` (3D-MoLM's
// attribute name for the encoder) and the stage-1 names (the tied aliases stored once), and
// vocab.txt, the WordPiece vocabulary the texts are tokenized with ([DEC] is added on loading).
#pragma once

#include "molm/io/atomic_file.hpp"
#include "molm/io/checkpoint_dir.hpp"
#include "molm/io/checkpoint_reader.hpp"
#include "molm/models/qformer/stage1.hpp"
#include "molm/models/unimol/checkpoint.hpp"

#include <fstream>
#include <optional>
#include <regex>
#include <set>

namespace molm::models::qformer {

inline constexpr const char* kReleasedPrefix = "blip2qformer.";
inline constexpr const char* kStage1ModelName = "molm-stage1";
inline constexpr const char* kEncoderPrefix = "graph_encoder.";

/// The Q-Former configuration a stage-1 state dict (names without the prefix) was made with.
inline Config infer_stage1_config(const nn::StateDict& sd, std::optional<std::int64_t> heads = {},
                                  const std::string& where = "checkpoint") {
  constexpr const char* op = "qformer";
  const auto shape_of = [&](const std::string& name) -> Shape {
    const Tensor* t = sd.find(name);
    MOLM_CHECK(t != nullptr, op, "{}: no tensor '{}' — not a 3D-MoLM stage-1 checkpoint", where, name);
    return t->shape();
  };
  Config c;
  const Shape q = shape_of("query_tokens");
  MOLM_CHECK(q.size() == 3 && q[0] == 1, op, "{}: query_tokens has shape {}, expected [1, Nq, H]", where, q.str());
  c.num_query_tokens = q[1];
  c.hidden_size = q[2];
  c.vocab_size = shape_of("Qformer.bert.embeddings.word_embeddings.weight")[0];
  c.dec_token_id = c.vocab_size - 1;
  c.max_position_embeddings = shape_of("Qformer.bert.embeddings.position_embeddings.weight")[0];
  c.intermediate_size = shape_of("Qformer.bert.encoder.layer.0.intermediate.dense.weight")[0];
  c.encoder_width = shape_of("ln_graph.weight")[0];
  c.embed_dim = shape_of("graph_proj.weight")[0];
  std::set<std::int64_t> layers, cross;
  const std::regex layer(R"(Qformer\.bert\.encoder\.layer\.(\d+)\.(\w+)\..*)");
  for (const auto& name : sd.keys()) {
    std::smatch m;
    if (!std::regex_match(name, m, layer)) continue;
    layers.insert(std::stoll(m[1]));
    if (m[2] == "crossattention") cross.insert(std::stoll(m[1]));
  }
  c.num_hidden_layers = layers.empty() ? 0 : *layers.rbegin() + 1;
  MOLM_CHECK(!cross.empty() && *cross.begin() == 0, op, "{}: layer 0 has no crossattention", where);
  c.cross_attention_freq = cross.size() > 1 ? *std::next(cross.begin()) : c.num_hidden_layers;
  for (std::int64_t i = 0; i < c.num_hidden_layers; ++i)
    MOLM_CHECK(c.has_cross_attention(i) == (cross.count(i) == 1), op,
               "{}: the layers with cross-attention ({}) are not every {}-th", where, fmt::join(cross, ", "),
               c.cross_attention_freq);
  c.num_attention_heads = heads.value_or(c.hidden_size % 64 == 0 ? c.hidden_size / 64 : 1);
  c.validate();
  return c;
}

struct ReleasedReport {
  Config config;
  std::size_t tensors = 0;  ///< tensors in the file
  nn::LoadReport load;      ///< the strict load (dtype conversions listed)
};

/// The `blip2qformer.`-prefixed state dict of a released stage-1 file, prefix removed. Any other
/// key is an error naming it.
inline nn::StateDict released_stage1_state_dict(const std::filesystem::path& path) {
  const nn::StateDict all = io::CheckpointReader::open(path).state_dict();
  nn::StateDict sd;
  std::vector<std::string> foreign;
  for (const auto& [name, t] : all) {
    if (name.rfind(kReleasedPrefix, 0) == 0) sd.insert(name.substr(std::string(kReleasedPrefix).size()), t);
    else foreign.push_back(name);
  }
  MOLM_CHECK(foreign.empty(), "qformer", "{}: {} tensor(s) outside '{}' (not a 3D-MoLM stage-1 state dict): {}",
             path.string(), foreign.size(), kReleasedPrefix, fmt::join(foreign.begin(),
             foreign.begin() + static_cast<std::ptrdiff_t>(std::min<std::size_t>(foreign.size(), 8)), ", "));
  return sd;
}

/// A stage-1 model holding a released checkpoint's weights (f32, eval mode). Strict: a missing,
/// unexpected or mis-shaped tensor throws, naming every one.
inline std::shared_ptr<Stage1> load_released_stage1(const std::filesystem::path& path,
                                                    std::optional<std::int64_t> heads = {},
                                                    ReleasedReport* report = nullptr) {
  const nn::StateDict sd = released_stage1_state_dict(path);
  ReleasedReport r;
  r.tensors = sd.size();
  r.config = infer_stage1_config(sd, heads, path.string());
  Generator gen(0);
  std::shared_ptr<Stage1> model;
  {
    SkipInit overwritten;  // every weight comes from the file
    model = std::make_shared<Stage1>(r.config, gen);
  }
  r.load = model->load_state_dict(sd);
  model->eval();
  if (report) *report = std::move(r);
  return model;
}

/// What a molm stage-1 directory holds.
struct Stage1Checkpoint {
  std::shared_ptr<unimol::Encoder> encoder;  ///< frozen, eval mode
  std::shared_ptr<Stage1> model;             ///< eval mode
  std::filesystem::path vocab;               ///< dir/vocab.txt, or empty when the directory has none
};

/// Write encoder + stage-1 model as a molm stage-1 directory; `vocab` (a WordPiece vocab.txt, may
/// be empty) is copied beside them.
inline void save_stage1(const std::filesystem::path& dir, unimol::Encoder& encoder, Stage1& model,
                        const std::filesystem::path& vocab = {}) {
  io::Checkpoint ck;
  ck.config = {{"model", kStage1ModelName}, {"unimol", encoder.config()}, {"qformer", model.config()}};
  for (const auto& [name, t] : encoder.state_dict()) ck.model.insert(kEncoderPrefix + name, t);
  std::set<std::string> aliases;
  for (const auto& [alias, target] : tied_aliases()) aliases.insert(alias);
  for (const auto& [name, t] : model.state_dict())
    if (!aliases.count(name)) ck.model.insert(name, t);
  io::save_checkpoint(dir, ck);
  if (!vocab.empty()) io::copy_file_atomically(vocab, dir / "vocab.txt", "qformer");
}

/// The encoder and stage-1 model of a molm stage-1 directory, strictly loaded.
inline Stage1Checkpoint load_stage1(const std::filesystem::path& dir) {
  const io::Checkpoint ck = io::load_checkpoint(dir);
  MOLM_CHECK(ck.config.value("model", "") == kStage1ModelName && ck.config.contains("unimol") &&
                 ck.config.contains("qformer"),
             "qformer", "{}: config.json does not describe a stage-1 model (model '{}'; expected '{}')", dir.string(),
             ck.config.value("model", ""), kStage1ModelName);
  nn::StateDict encoder_sd, model_sd;
  for (const auto& [name, t] : ck.model) {
    if (name.rfind(kEncoderPrefix, 0) == 0) encoder_sd.insert(name.substr(std::string(kEncoderPrefix).size()), t);
    else model_sd.insert(name, t);
  }
  for (const auto& [alias, target] : tied_aliases())
    if (const Tensor* t = model_sd.find(target); t && !model_sd.contains(alias)) model_sd.insert(alias, *t);
  Generator gen(0);
  Stage1Checkpoint out;
  {
    SkipInit overwritten;
    out.encoder = std::make_shared<unimol::Encoder>(ck.config.at("unimol").get<unimol::Config>(), gen);
    out.model = std::make_shared<Stage1>(ck.config.at("qformer").get<Config>(), gen);
  }
  out.encoder->load_state_dict(encoder_sd);
  out.model->load_state_dict(model_sd);
  out.encoder->eval();
  out.encoder->freeze();
  out.model->eval();
  if (std::filesystem::is_regular_file(dir / "vocab.txt")) out.vocab = dir / "vocab.txt";
  return out;
}

struct ConvertStage1Report {
  ReleasedReport stage1;
  unimol::ConvertReport unimol;
};

/// 3D-MoLM's stage-1 file + its Uni-Mol file → a molm stage-1 directory (f32).
inline ConvertStage1Report convert_released_stage1(const std::filesystem::path& stage1_ckpt,
                                                   const std::filesystem::path& unimol_pt,
                                                   const std::filesystem::path& out_dir,
                                                   const std::filesystem::path& vocab = {},
                                                   std::optional<std::int64_t> heads = {}) {
  ConvertStage1Report r;
  auto model = load_released_stage1(stage1_ckpt, heads, &r.stage1);
  auto encoder = unimol::load_original(unimol_pt, &r.unimol);
  MOLM_CHECK(encoder->config().embed_dim == model->config().encoder_width, "qformer",
             "the Uni-Mol encoder {} is {} wide but the stage-1 model {} reads rows of {}", unimol_pt.string(),
             encoder->config().embed_dim, stage1_ckpt.string(), model->config().encoder_width);
  save_stage1(out_dir, *encoder, *model, vocab);
  return r;
}

}  // namespace molm::models::qformer
