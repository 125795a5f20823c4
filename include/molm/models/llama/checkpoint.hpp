// Llama checkpoints: Hugging Face folders in, molm Llama directories out.
//
//   auto lm = llama::load("llama-2-7b-hf", DType::bf16);        // HF folder or molm directory
//   llama::save("out/", *lm, "tokenizer.model", "plain");        // molm directory
//   llama::convert_llama2c("stories260K.bin", "tok512.model", "out/");
//
// Read (strict: a missing, unexpected or mis-shaped tensor throws, naming each; HF's
// `rotary_emb.inv_freq` buffers, which transformers recomputes, are skipped and reported):
//   config.json + model.safetensors | model.safetensors.index.json + shards |
//   pytorch_model.bin | pytorch_model.bin.index.json + pytorch_model-0000N-of-0000M.bin
//   (3D-MoLM's llama-2-7b-hf: two fp16 .bin shards). Tensors of any floating dtype on disk are
//   converted to the dtype asked for. A tied model may store lm_head.weight or not.
// Written: a molm Llama directory (io/checkpoint_dir.hpp, atomic) that transformers also loads:
//   config.json        HF LlamaConfig fields + "torch_dtype" + "molm": {"model": "llama", "version",
//                      "tokenizer": {"file", "convention"}} (transformers ignores the extra object)
//   model.safetensors  HF names; a tied lm_head is stored once (as save_pretrained does)
//   tokenizer.model    the SentencePiece model, when one is given
#pragma once

#include "molm/io/checkpoint_dir.hpp"
#include "molm/io/checkpoint_reader.hpp"
#include "molm/io/llama2c.hpp"
#include "molm/models/llama/model.hpp"
#include "molm/version.hpp"

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

namespace molm::models::llama {

namespace fs = std::filesystem;

/// What load() read and did.
struct LoadReport {
  std::string format;                ///< checkpoint format name (safetensors, pytorch-index, ...)
  std::size_t tensors = 0;           ///< tensors loaded into the model
  std::vector<std::string> skipped;  ///< names read and ignored (rotary_emb.inv_freq)
  nn::LoadReport load;               ///< dtype conversions
  nlohmann::json molm;               ///< config.json's "molm" object (null for an HF folder)
};

/// The names, shapes and dtype of a model of config `c` in state-dict order (lm_head listed even
/// when tied, as HF's state_dict does), without building it: what `molm inspect --against llama:P`
/// compares with.
inline std::vector<io::TensorListing> expected_tensors(const Config& c, DType dtype = DType::f32) {
  std::vector<io::TensorListing> out;
  const auto add = [&](std::string name, Shape shape) {
    const auto nbytes = static_cast<std::uint64_t>(shape.numel()) * itemsize(dtype);
    out.push_back({std::move(name), dtype, std::move(shape), nbytes});
  };
  const std::int64_t C = c.hidden_size, F = c.intermediate_size, Ckv = c.kv_dim();
  add("model.embed_tokens.weight", {c.vocab_size, C});
  for (std::int64_t i = 0; i < c.num_hidden_layers; ++i) {
    const std::string p = fmt::format("model.layers.{}.", i);
    add(p + "self_attn.q_proj.weight", {C, C});
    add(p + "self_attn.k_proj.weight", {Ckv, C});
    add(p + "self_attn.v_proj.weight", {Ckv, C});
    add(p + "self_attn.o_proj.weight", {C, C});
    add(p + "mlp.gate_proj.weight", {F, C});
    add(p + "mlp.up_proj.weight", {F, C});
    add(p + "mlp.down_proj.weight", {C, F});
    add(p + "input_layernorm.weight", {C});
    add(p + "post_attention_layernorm.weight", {C});
  }
  add("model.norm.weight", {C});
  add("lm_head.weight", {c.vocab_size, C});
  return out;
}

/// The config.json of a folder (HF or molm), parsed into a Config; its "molm" object (null for an
/// HF folder) into `molm` when asked for.
inline Config read_config(const fs::path& dir, nlohmann::json* molm = nullptr) {
  const fs::path p = dir / "config.json";
  std::ifstream in(p);
  MOLM_CHECK(in.good(), "llama", "{}: no config.json (a Llama folder holds config.json and its weights)", dir.string());
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    MOLM_THROW("llama", "{}: config.json is not valid JSON: {}", dir.string(), e.what());
  }
  if (j.is_object() && j.contains("molm")) {
    if (molm) *molm = j.at("molm");
    j.erase("molm");
  }
  try {
    return j.get<Config>();
  } catch (const error& e) {
    MOLM_THROW("llama", "{}: {}", p.string(), e.what());
  } catch (const nlohmann::json::exception& e) {
    MOLM_THROW("llama", "{}: a field has the wrong type: {}", p.string(), e.what());
  }
}

/// A model of config `c` in `dtype` holding `sd` (strict), eval mode; built without drawing weights.
inline std::shared_ptr<CausalLM> from_state_dict(const Config& c, const nn::StateDict& sd, DType dtype,
                                                 nn::LoadReport* report = nullptr) {
  Generator gen(0);
  std::shared_ptr<CausalLM> lm;
  {
    SkipInit overwritten;
    lm = std::make_shared<CausalLM>(c, gen, dtype);
  }
  const nn::LoadReport r = lm->load_state_dict(sd);
  if (report) *report = r;
  lm->eval();
  return lm;
}

/// The state dict of `reader` ready for a model of config `c`: inv_freq buffers dropped (into
/// `skipped`), a tied lm_head given its alias when the file stores the embedding only.
inline nn::StateDict prepare_state_dict(const io::CheckpointReader& reader, const Config& c,
                                        std::vector<std::string>* skipped = nullptr) {
  nn::StateDict sd;
  for (const auto& t : reader.listing()) {
    if (t.name.ends_with("rotary_emb.inv_freq")) {
      if (skipped) skipped->push_back(t.name);
      continue;
    }
    sd.insert(t.name, reader.tensor(t.name));
  }
  if (c.tie_word_embeddings && !sd.contains("lm_head.weight"))
    if (const Tensor* e = sd.find("model.embed_tokens.weight")) sd.insert("lm_head.weight", *e);
  return sd;
}

/// A model from an HF folder or a molm Llama directory, strictly loaded, in `dtype`, eval mode.
inline std::shared_ptr<CausalLM> load(const fs::path& dir, DType dtype = DType::f32, LoadReport* report = nullptr) {
  MOLM_CHECK(fs::is_directory(dir), "llama", "{}: not a folder (expected config.json and weights)", dir.string());
  LoadReport r;
  const Config c = read_config(dir, &r.molm);
  const io::CheckpointReader reader = io::CheckpointReader::open(dir);
  r.format = std::string(io::format_name(reader.format()));
  const nn::StateDict sd = prepare_state_dict(reader, c, &r.skipped);
  r.tensors = sd.size();
  std::shared_ptr<CausalLM> lm;
  try {
    lm = from_state_dict(c, sd, dtype, &r.load);
  } catch (const error& e) {
    MOLM_THROW("llama", "{}: the weights do not fit the config.json model: {}", dir.string(), e.what());
  }
  if (report) *report = std::move(r);
  return lm;
}

/// Write `lm` as a molm Llama directory. `tokenizer` (a SentencePiece .model, may be empty) is
/// copied beside it as tokenizer.model; `convention` ("plain" or "reference", text::LlamaConvention)
/// says how molm's tools tokenize with it.
inline void save(const fs::path& dir, CausalLM& lm, const fs::path& tokenizer = {},
                 const std::string& convention = "plain") {
  MOLM_CHECK(convention == "plain" || convention == "reference", "llama",
             "tokenizer convention must be \"plain\" or \"reference\", got \"{}\"", convention);
  io::Checkpoint ck;
  nlohmann::json config = lm.config();
  config["torch_dtype"] = lm.dtype() == DType::bf16 ? "bfloat16" : lm.dtype() == DType::f16 ? "float16" : "float32";
  nlohmann::json molm = {{"model", "llama"}, {"version", molm::version()}};
  if (!tokenizer.empty()) molm["tokenizer"] = {{"file", "tokenizer.model"}, {"convention", convention}};
  config["molm"] = molm;
  ck.config = config;
  for (const auto& [name, t] : lm.state_dict())
    if (!(lm.config().tie_word_embeddings && name == "lm_head.weight")) ck.model.insert(name, t);
  io::save_checkpoint(dir, ck);
  if (!tokenizer.empty()) io::copy_file_atomically(tokenizer, dir / "tokenizer.model", "llama");
}

/// A llama2.c `.bin` (io/llama2c.hpp) as a model: its HF config and weights.
inline std::shared_ptr<CausalLM> load_llama2c(const fs::path& bin, DType dtype = DType::f32) {
  const io::Llama2cModel m = io::load_llama2c(bin);
  return from_state_dict(nlohmann::json(m.config.hf_config()).get<Config>(), m.weights, dtype);
}

/// What a conversion read and wrote.
struct ConvertReport {
  Config config;
  LoadReport read;      ///< convert_hf: what load() read (convert_llama2c: empty)
  fs::path tokenizer;   ///< the tokenizer copied beside the model, or empty
};

/// `molm convert --from llama2c IN.bin [--tokenizer TOK.model] OUT`.
inline ConvertReport convert_llama2c(const fs::path& bin, const fs::path& tokenizer, const fs::path& out,
                                     DType dtype = DType::f32, const std::string& convention = "plain") {
  const auto lm = load_llama2c(bin, dtype);
  save(out, *lm, tokenizer, convention);
  return {lm->config(), {}, tokenizer};
}

/// `molm convert --from hf HF_DIR OUT`: `tokenizer`, or else the folder's tokenizer.model (if any),
/// comes along; its convention is "plain" unless given.
inline ConvertReport convert_hf(const fs::path& hf_dir, const fs::path& out, DType dtype = DType::f32,
                                const std::string& convention = "plain", fs::path tokenizer = {}) {
  ConvertReport r;
  const auto lm = load(hf_dir, dtype, &r.read);
  if (tokenizer.empty() && fs::is_regular_file(hf_dir / "tokenizer.model")) tokenizer = hf_dir / "tokenizer.model";
  save(out, *lm, tokenizer, convention);
  r.config = lm->config();
  r.tokenizer = tokenizer;
  return r;
}

}  // namespace molm::models::llama
