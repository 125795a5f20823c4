// Uni-Mol checkpoints in and out: the original `.pt` files (mol_pre_no_h_220816.pt, reference-model.md
// §9.1) and molm checkpoint directories (config.json + model.safetensors, io/checkpoint_dir.hpp).
//
//   auto report = unimol::convert_checkpoint("mol_pre_no_h_220816.pt", "unimol-paper/");
//   auto encoder = unimol::load_encoder("unimol-paper/");
//
// The configuration is read off the weights (layers, widths, heads = gbf_proj's outputs, kernels,
// vocabulary), so any Uni-Mol-shaped checkpoint converts without naming a preset. The pretraining
// heads the original file also holds (lm_head, pair2coord_proj, dist_head, final_head_layer_norm)
// are not part of the encoder 3D-MoLM uses: they are listed as skipped, and anything else that does
// not fit — a missing tensor, a wrong shape, an unknown name — is an error.
#pragma once

#include "molm/io/checkpoint_dir.hpp"
#include "molm/io/checkpoint_reader.hpp"
#include "molm/models/unimol/encoder.hpp"

#include <regex>
#include <string>
#include <vector>

namespace molm::models::unimol {

inline constexpr const char* kModelName = "unimol-encoder";

/// The configuration a state dict with Uni-Mol's names was made with.
inline Config infer_config(const nn::StateDict& sd, const std::string& where = "checkpoint") {
  constexpr const char* C = "unimol";
  const auto shape_of = [&](const std::string& name) -> Shape {
    const Tensor* t = sd.find(name);
    MOLM_CHECK(t != nullptr, C, "{}: no tensor '{}' — not a Uni-Mol encoder checkpoint", where, name);
    return t->shape();
  };
  Config c;
  const Shape embed = shape_of("embed_tokens.weight");
  MOLM_CHECK(embed.size() == 2, C, "{}: embed_tokens.weight has shape {}", where, embed.str());
  c.vocab_size = embed[0];
  c.embed_dim = embed[1];
  c.gaussian_kernels = shape_of("gbf.means.weight").back();
  c.heads = shape_of("gbf_proj.linear2.weight")[0];
  c.ffn_dim = shape_of("encoder.layers.0.fc1.weight")[0];
  std::int64_t layers = 0;
  const std::regex layer(R"(encoder\.layers\.(\d+)\..*)");
  for (const auto& name : sd.keys()) {
    std::smatch m;
    if (std::regex_match(name, m, layer)) layers = std::max<std::int64_t>(layers, std::stoll(m[1]) + 1);
  }
  c.layers = layers;
  c.validate();
  return c;
}

/// Names in an original Uni-Mol checkpoint that the encoder does not use (pretraining heads).
inline bool is_pretraining_head(const std::string& name) {
  for (const char* prefix : {"lm_head.", "pair2coord_proj.", "dist_head.", "encoder.final_head_layer_norm.",
                             "classification_head", "classification_heads."})
    if (name.rfind(prefix, 0) == 0) return true;
  return false;
}

struct ConvertReport {
  Config config;
  std::vector<std::string> skipped;  ///< pretraining heads left out
  std::size_t loaded = 0;            ///< tensors loaded into the encoder
  nn::LoadReport load;               ///< the strict load of the rest
};

/// An encoder holding the weights of an original Uni-Mol `.pt` (or any file the checkpoint reader
/// opens: safetensors, a molm checkpoint directory, ...). Strict but for the pretraining heads.
inline std::shared_ptr<Encoder> load_original(const std::filesystem::path& path, ConvertReport* report = nullptr) {
  const nn::StateDict all = io::CheckpointReader::open(path).state_dict();
  nn::StateDict encoder_part;
  ConvertReport r;
  for (const auto& [name, t] : all) {
    if (is_pretraining_head(name)) r.skipped.push_back(name);
    else encoder_part.insert(name, t);
  }
  r.config = infer_config(encoder_part, path.string());
  Generator gen(0);
  auto encoder = std::make_shared<Encoder>(r.config, gen);
  r.load = encoder->load_state_dict(encoder_part);  // strict: anything else wrong throws, by name
  r.loaded = encoder_part.size();
  encoder->eval();
  if (report) *report = std::move(r);
  return encoder;
}

/// config.json of a molm Uni-Mol encoder directory.
inline nlohmann::json checkpoint_config(const Config& c) {
  return {{"model", kModelName}, {"unimol", c}};
}

/// Write `encoder` as a molm checkpoint directory (atomically; see io/checkpoint_dir.hpp).
inline void save_encoder(const std::filesystem::path& dir, Encoder& encoder) {
  io::Checkpoint ck;
  ck.config = checkpoint_config(encoder.config());
  ck.model = encoder.state_dict();
  io::save_checkpoint(dir, ck);
}

/// The encoder of a molm checkpoint directory (eval mode), strictly loaded.
inline std::shared_ptr<Encoder> load_encoder(const std::filesystem::path& dir) {
  const io::Checkpoint ck = io::load_checkpoint(dir);
  MOLM_CHECK(ck.config.value("model", "") == kModelName && ck.config.contains("unimol"), "unimol",
             "{}: config.json does not describe a Uni-Mol encoder (model '{}'; expected '{}')", dir.string(),
             ck.config.value("model", ""), kModelName);
  const Config config = ck.config.at("unimol").get<Config>();
  Generator gen(0);
  auto encoder = std::make_shared<Encoder>(config, gen);
  encoder->load_state_dict(ck.model);
  encoder->eval();
  return encoder;
}

/// Original checkpoint → molm checkpoint directory; returns what was skipped and loaded.
inline ConvertReport convert_checkpoint(const std::filesystem::path& original, const std::filesystem::path& out_dir) {
  ConvertReport report;
  auto encoder = load_original(original, &report);
  save_encoder(out_dir, *encoder);
  return report;
}

}  // namespace molm::models::unimol
