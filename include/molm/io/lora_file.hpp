// LoRA adapter folders (nn/lora.hpp's adapters on disk) in the layout Hugging Face PEFT 0.6.2's
// save_pretrained(dir, safe_serialization=True) writes, so adapters move between molm and PEFT unchanged:
//
//   dir/adapter_model.safetensors   only the LoRA tensors, "base_model.model.<path>.lora_A.weight",
//                                   metadata {"format": "pt"} (nn::lora::adapter_state_dict names them)
//   dir/adapter_config.json         PEFT's LoraConfig fields, sorted keys, 2-space indent
//
//   lora::save_adapter(model, "out/");             // both files, each written atomically
//   lora::load_adapter(other, "out/", gen);        // wraps `other` from the config, then loads
//
// The functions keep the namespace molm::nn::lora of the adapters they read and write; they live in
// io/ because they use the file formats (safetensors, atomic writes), which sit above nn/ in the layer
// order of docs/architecture.md. Loading is strict (PEFT loads adapter files non-strictly).
#pragma once

#include "molm/io/atomic_file.hpp"
#include "molm/io/safetensors.hpp"
#include "molm/nn/lora.hpp"

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace molm::nn::lora {

inline constexpr const char* kWeightsFile = "adapter_model.safetensors";
inline constexpr const char* kConfigFile = "adapter_config.json";

/// What adapter_config.json says beyond Config (PEFT's fields of the same names).
struct SaveOptions {
  std::string base_model_name_or_path;  ///< written as is; PEFT writes "" for a model built from a config
  std::string task_type = "CAUSAL_LM";  ///< "" writes null
  std::string revision;                 ///< "" writes null
};

/// The adapter_config.json PEFT 0.6.2 writes for `config` (same fields, sorted keys, 2-space indent).
inline std::string adapter_config_json(const Config& config, const SaveOptions& options = {}) {
  using nlohmann::json;
  auto null_if_empty = [](const std::string& s) { return s.empty() ? json(nullptr) : json(s); };
  json j = json::object();  // std::map-backed: keys come out sorted, as json.dumps(sort_keys=True)
  j["alpha_pattern"] = json::object();
  j["auto_mapping"] = nullptr;
  j["base_model_name_or_path"] = options.base_model_name_or_path;
  j["bias"] = "none";
  j["fan_in_fan_out"] = false;
  j["inference_mode"] = true;  // PEFT's save_pretrained always writes true
  j["init_lora_weights"] = true;
  j["layers_pattern"] = nullptr;
  j["layers_to_transform"] = nullptr;
  // lora_alpha is an int in PEFT's config; keep it one when it is whole.
  if (config.alpha == std::floor(config.alpha) && std::abs(config.alpha) < 1e15)
    j["lora_alpha"] = static_cast<std::int64_t>(config.alpha);
  else
    j["lora_alpha"] = config.alpha;
  j["lora_dropout"] = config.dropout;
  j["modules_to_save"] = nullptr;
  j["peft_type"] = "LORA";
  j["r"] = config.r;
  j["rank_pattern"] = json::object();
  j["revision"] = null_if_empty(options.revision);
  j["target_modules"] = config.target_modules;
  j["task_type"] = null_if_empty(options.task_type);
  return j.dump(2);
}

/// Write the model's adapter as PEFT's save_pretrained(dir, safe_serialization=True) does:
/// dir/adapter_model.safetensors (only the LoRA tensors, metadata {"format": "pt"}) and
/// dir/adapter_config.json. Both files are written atomically; dir is created if needed.
inline void save_adapter(Module& model, const std::filesystem::path& dir, const SaveOptions& options = {}) {
  const Config config = config_of(model);
  const StateDict sd = adapter_state_dict(model);
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  MOLM_CHECK(!ec && std::filesystem::is_directory(dir), "lora", "cannot create the adapter folder {}: {}",
             dir.string(), ec.message());
  std::map<std::string, Tensor> tensors;
  for (const auto& [name, t] : sd) tensors.emplace(name, t);
  save_safetensors(dir / kWeightsFile, tensors, {{"format", "pt"}});
  const std::string text = adapter_config_json(config, options);
  io::AtomicFile out(dir / kConfigFile, "lora");
  out.write(text.data(), text.size());
  out.commit();
}

/// Read and check dir/adapter_config.json: a PEFT LoRA config molm can honour (one adapter, list of
/// target names, bias "none", no modules_to_save, no per-layer ranks). Throws naming the field.
inline Config read_adapter_config(const std::filesystem::path& dir) {
  constexpr const char* C = "lora";
  const std::filesystem::path path = dir / kConfigFile;
  std::ifstream in(path, std::ios::binary);
  MOLM_CHECK(in.good(), C, "cannot open {} (an adapter folder holds {} and {})", path.string(), kConfigFile,
             kWeightsFile);
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const std::string where = path.string();
  const nlohmann::json j = io::detail::parse_json_strict(text, where, 0, C);
  MOLM_CHECK(j.is_object(), C, "{}: the config is a JSON {}, not an object", where, j.type_name());
  auto field = [&](const char* key) -> const nlohmann::json& {
    static const nlohmann::json null_value;
    const auto it = j.find(key);
    return it == j.end() ? null_value : *it;
  };
  auto absent_or = [&](const char* key, auto&& ok, const char* why) {
    const auto& v = field(key);
    MOLM_CHECK(v.is_null() || ok(v), C, "{}: {} = {} is not supported: {}", where, key, v.dump(), why);
  };
  const auto& type = field("peft_type");
  MOLM_CHECK(type == "LORA", C, "{}: peft_type is {}, not \"LORA\"", where, type.dump());
  absent_or("bias", [](const auto& v) { return v == "none"; }, "molm adapters carry no bias tensors");
  absent_or("fan_in_fan_out", [](const auto& v) { return v == false; }, "molm Linear weights are [out, in]");
  absent_or("modules_to_save", [](const auto& v) { return v.is_array() && v.empty(); },
            "only LoRA tensors are loaded");
  absent_or("layers_to_transform", [](const auto&) { return false; }, "every matching layer is wrapped");
  for (const char* key : {"rank_pattern", "alpha_pattern"})
    absent_or(key, [](const auto& v) { return v.is_object() && v.empty(); }, "one r and alpha for all layers");
  for (const char* key : {"use_rslora", "use_dora"})
    absent_or(key, [](const auto& v) { return v == false; }, "PEFT 0.6 LoRA only");

  Config c;
  const auto& r = field("r");
  MOLM_CHECK(r.is_number_integer() && r.get<std::int64_t>() > 0 && r.get<std::int64_t>() < (1 << 30), C,
             "{}: r = {} is not a positive integer", where, r.dump());
  c.r = r.get<int>();
  const auto& alpha = field("lora_alpha");
  MOLM_CHECK(alpha.is_number(), C, "{}: lora_alpha = {} is not a number", where, alpha.dump());
  c.alpha = alpha.get<double>();
  const auto& dropout = field("lora_dropout");
  MOLM_CHECK(dropout.is_null() || dropout.is_number(), C, "{}: lora_dropout = {} is not a number", where,
             dropout.dump());
  c.dropout = dropout.is_null() ? 0.0 : dropout.get<double>();
  const auto& targets = field("target_modules");
  MOLM_CHECK(!targets.is_string(), C, "{}: target_modules = {} is a regular expression; molm takes a list of names",
             where, targets.dump());
  MOLM_CHECK(targets.is_array() && !targets.empty(), C, "{}: target_modules = {} is not a non-empty list", where,
             targets.dump());
  for (const auto& t : targets) {
    MOLM_CHECK(t.is_string(), C, "{}: target_modules holds {}, not a module name", where, t.dump());
    c.target_modules.push_back(t.get<std::string>());
  }
  return c;
}

/// Load an adapter folder written by PEFT's save_pretrained(dir, safe_serialization=True) or by
/// save_adapter into a model already wrapped with the same r, alpha and target layers (checked:
/// the config's targets must select exactly the wrapped layers). Strict: every tensor in the file
/// must find its layer, every wrapped layer must get both A and B, shapes must agree; otherwise it
/// throws listing every problem and copies nothing. dtype conversions are allowed and reported.
/// Adapters must not be merged (the merged weight would keep the old ΔW).
inline LoadReport load_adapter(Module& model, const std::filesystem::path& dir) {
  constexpr const char* C = "lora";
  const Config config = read_adapter_config(dir);
  const std::string where = dir.string();
  const auto layers = wrapped_layers(model);
  MOLM_CHECK(!layers.empty(), C, "{}: the model has no LoRA adapter; wrap it first, or call "
             "load_adapter(model, dir, gen) to wrap it from the config", where);

  // The config must describe these adapters: same rank and alpha, same set of layers.
  std::set<std::string> wrapped, selected;
  for (auto& [name, lin] : layers) {
    const Adapter& a = *adapter_of(*lin);
    MOLM_CHECK(a.r() == config.r && a.alpha() == config.alpha, C,
               "{}: the config says r {} lora_alpha {}, but layer '{}' was wrapped with r {} alpha {}", where,
               config.r, config.alpha, name, a.r(), a.alpha());
    MOLM_CHECK(!a.merged(), C, "{}: layer '{}' is merged; call lora::unmerge(model) before loading", where, name);
    if (a.dropout()->p() != config.dropout)
      spdlog::warn("[lora] {}: the config's lora_dropout {} differs from the model's {} (layer '{}'); keeping {}",
                   where, config.dropout, a.dropout()->p(), name, a.dropout()->p());
    wrapped.insert(name);
  }
  for (auto& [name, m] : model.named_modules())
    if (!detail::inside_adapter(name) && matches_target(name, config.target_modules))
      selected.insert(name);
  if (selected != wrapped) {
    std::vector<std::string> only_config, only_model;
    std::set_difference(selected.begin(), selected.end(), wrapped.begin(), wrapped.end(),
                        std::back_inserter(only_config));
    std::set_difference(wrapped.begin(), wrapped.end(), selected.begin(), selected.end(),
                        std::back_inserter(only_model));
    MOLM_THROW(C, "{}: target_modules [{}] select other layers than the wrapped ones; selected but not wrapped: "
               "[{}]; wrapped but not selected: [{}]",
               where, fmt::join(config.target_modules, ", "), fmt::join(only_config, ", "),
               fmt::join(only_model, ", "));
  }

  const std::filesystem::path file = dir / kWeightsFile;
  if (!std::filesystem::exists(file) && std::filesystem::exists(dir / "adapter_model.bin"))
    MOLM_THROW(C, "{}: has adapter_model.bin (a pickle) but no {}; re-save it with "
               "model.save_pretrained(dir, safe_serialization=True)", where, kWeightsFile);
  const SafetensorsFile weights(file);

  // Match file names to the model's tensors; collect every problem before copying anything.
  const StateDict own = adapter_state_dict(model);
  LoadReport report;
  std::vector<std::pair<Tensor, Tensor>> copies;  // (destination, source)
  for (const auto& [name, dst] : own) {
    if (!weights.contains(name)) {
      report.missing.push_back(name);
      continue;
    }
    const Tensor src = weights.tensor(name);
    if (src.shape() != dst.shape()) {
      report.shape_mismatched.push_back({name, dst.shape(), src.shape()});
      continue;
    }
    MOLM_CHECK(is_floating(src.dtype()), C, "{}: tensor '{}' is {}, not floating", file.string(), name,
               molm::name(src.dtype()));
    if (src.dtype() != dst.dtype()) report.converted.push_back({name, src.dtype(), dst.dtype()});
    copies.emplace_back(dst, src);
  }
  for (const auto& name : weights.names())
    if (!own.contains(name)) report.unexpected.push_back(name);
  MOLM_CHECK(report.ok(), C, "{}: the adapter does not fit the model (names are \"{}<module>.lora_A.weight\"):\n{}",
             file.string(), kPeftPrefix, report.str());
  {
    no_grad guard;
    for (auto& [dst, src] : copies) dst.copy_(src);
  }
  if (!report.empty()) spdlog::info("[lora] {}: {}", file.string(), report.str());
  return report;
}

/// load_adapter() that first wraps an unwrapped model from the folder's adapter_config.json
/// (adapters in f32, as PEFT makes them); `gen` draws the dropout masks and must outlive the model.
inline LoadReport load_adapter(Module& model, const std::filesystem::path& dir, Generator& gen) {
  if (wrapped_layers(model).empty()) wrap(model, read_adapter_config(dir), gen);
  return load_adapter(model, dir);
}

}  // namespace molm::nn::lora
