// `molm inspect PATH`: every tensor of a checkpoint — name, dtype, shape, bytes — and the totals,
// for any format io::CheckpointReader opens. `--json` prints the same as one JSON document;
// `--against OTHER` prints the strict-loading report of a model shaped like OTHER given PATH; OTHER is
// another checkpoint or a model preset (unimol:tiny|small|paper; llama:tiny|small|paper, HF Llama names;
// or stage1:tiny|small|paper: the layout of 3D-MoLM's released stage-1 checkpoint, `blip2qformer.`
// names in bfloat16).
// A malformed or hostile file ends with exit code 1 and a one-line error (main() prints it).
#pragma once

#include "command.hpp"

#include <molm/io/checkpoint_reader.hpp>
#include <molm/models/llama/checkpoint.hpp>
#include <molm/models/qformer/checkpoint.hpp>
#include <molm/models/unimol/encoder.hpp>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <optional>
#include <iostream>
#include <string>

namespace molm::cli {

namespace detail {

/// 1536 → "1.5 KiB": sizes a reader can take in at a glance.
inline std::string human_bytes(std::uint64_t n) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(n);
  int u = 0;
  while (v >= 1024.0 && u < 4) v /= 1024.0, ++u;
  return u == 0 ? fmt::format("{} B", n) : fmt::format("{:.1f} {}", v, units[u]);
}

inline nlohmann::ordered_json listing_json(const io::CheckpointReader& ck) {
  nlohmann::ordered_json j;
  j["path"] = ck.path().string();
  j["format"] = std::string(io::format_name(ck.format()));
  j["tensors"] = nlohmann::ordered_json::array();
  for (const auto& t : ck.listing()) {
    nlohmann::ordered_json shape = nlohmann::ordered_json::array();
    for (auto d : t.shape) shape.push_back(d);
    j["tensors"].push_back({{"name", t.name}, {"dtype", std::string(name(t.dtype))}, {"shape", shape},
                            {"bytes", t.nbytes}});
  }
  j["total_tensors"] = ck.listing().size();
  j["total_elements"] = ck.total_elements();
  j["total_bytes"] = ck.total_bytes();
  j["warnings"] = ck.warnings();
  return j;
}

/// The listing JSON with one tensor object per line: valid JSON that stays grep- and diff-friendly.
inline void print_json_listing(const nlohmann::ordered_json& j, std::ostream& os) {
  // Names come from files: never let a stray byte make dump() throw; show it as U+FFFD instead.
  const auto dump = [](const auto& v) { return v.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace); };
  os << "{\n";
  bool first = true;
  for (const auto& [key, value] : j.items()) {
    os << (first ? "" : ",\n") << "  " << dump(nlohmann::json(key)) << ": ";
    first = false;
    if (key != "tensors" || value.empty()) {
      os << dump(value);
      continue;
    }
    os << "[\n";
    for (std::size_t i = 0; i < value.size(); ++i) os << "    " << dump(value[i]) << (i + 1 < value.size() ? ",\n" : "\n");
    os << "  ]";
  }
  os << "\n}\n";
}

inline void print_listing(const io::CheckpointReader& ck, std::ostream& os) {
  std::size_t width = 4;
  for (const auto& t : ck.listing()) width = std::max(width, t.name.size());
  width = std::min<std::size_t>(width, 96);
  os << fmt::format("{}  ({})\n", ck.path().string(), io::format_name(ck.format()));
  os << fmt::format("{:<{}}  {:<5}  {:<20}  {:>10}\n", "name", width, "dtype", "shape", "bytes");
  for (const auto& t : ck.listing())
    os << fmt::format("{:<{}}  {:<5}  {:<20}  {:>10}\n", t.name, width, name(t.dtype), t.shape.str(),
                      human_bytes(t.nbytes));
  os << fmt::format("total: {} tensors, {} elements, {} ({} bytes)\n", ck.listing().size(), ck.total_elements(),
                    human_bytes(ck.total_bytes()), ck.total_bytes());
  for (const auto& w : ck.warnings()) os << "warning: " << w << "\n";
}

/// The tensors of a model preset ("unimol:paper"), as a checkpoint of it would list them; nullopt
/// when `spec` names no preset.
/// stage1:<preset> lists the released stage-1 layout: `blip2qformer.` names, bfloat16 (§9.2);
/// llama:<preset> HF LlamaForCausalLM names, bfloat16 (paper: vocabulary resized to 32,002, §5.1).
inline std::optional<std::vector<io::TensorListing>> preset_listing(const std::string& spec) {
  const auto colon = spec.find(':');
  if (colon == std::string::npos) return std::nullopt;
  const std::string family = spec.substr(0, colon), preset = spec.substr(colon + 1);
  if (family == "llama") {  // built from the config alone: a paper-size model is never allocated
    const auto c = models::llama::Config::preset(preset);
    auto listing = models::llama::expected_tensors(c, DType::bf16);
    if (c.tie_word_embeddings) listing.pop_back();  // a tied lm_head is stored once, as the embedding
    return listing;
  }
  if (family != "unimol" && family != "stage1") return std::nullopt;
  Generator gen(0);
  SkipInit names_and_shapes;  // nothing is read but names and shapes
  std::vector<io::TensorListing> out;
  const auto list = [&](nn::Module& model, const std::string& prefix, DType dtype) {
    for (const auto& [name, t] : model.state_dict())
      out.push_back({prefix + name, dtype, t.shape(), static_cast<std::uint64_t>(t.numel()) * itemsize(dtype)});
  };
  if (family == "unimol") {
    models::unimol::Encoder model(models::unimol::Config::preset(preset), gen);
    list(model, "", DType::f32);
  } else {
    models::qformer::Stage1 model(models::qformer::Config::preset(preset), gen);
    list(model, models::qformer::kReleasedPrefix, DType::bf16);
  }
  return out;
}

}  // namespace detail

inline Command inspect_command() {
  return {"inspect", "list the tensors of a checkpoint (safetensors, sharded index, checkpoint folder)",
          [](const std::vector<std::string>& args) {
            po::options_description options("molm inspect options");
            options.add_options()("path", po::value<std::string>()->required(), "checkpoint file or folder")(
                "json", "print JSON: {path, format, tensors: [{name, dtype, shape, bytes}], totals, warnings}")(
                "against", po::value<std::string>(),
                "another checkpoint or a model preset (unimol:tiny|small|paper; llama:tiny|small|paper; stage1:tiny|small|paper, the released stage-1 "
                "layout): report, by name, "
                "what a model shaped like it would find missing, unexpected, mis-shaped or converted when strictly "
                "loading PATH (exit 1 if it would fail)");
            po::positional_options_description positional;
            positional.add("path", 1);
            const auto vm = parse_command_line("inspect", args, options, positional, "PATH [--json] [--against OTHER]");
            if (!vm) return int(exit_ok);

            const auto ck = io::CheckpointReader::open((*vm)["path"].as<std::string>());
            if (!vm->count("against")) {
              if (vm->count("json")) detail::print_json_listing(detail::listing_json(ck), std::cout);
              else detail::print_listing(ck, std::cout);
              return int(exit_ok);
            }

            const std::string against = (*vm)["against"].as<std::string>();
            std::string against_name = against;
            std::vector<io::TensorListing> expected;
            if (auto preset = std::filesystem::exists(against) ? std::nullopt : detail::preset_listing(against)) {
              expected = std::move(*preset);
            } else {
              const auto reference = io::CheckpointReader::open(against);
              against_name = reference.path().string();
              expected = reference.listing();
            }
            const nn::LoadReport report = io::compare_listings(expected, ck.listing());
            if (vm->count("json")) {
              nlohmann::ordered_json j;
              j["path"] = ck.path().string();
              j["against"] = against_name;
              j["ok"] = report.ok();
              j["missing"] = report.missing;
              j["unexpected"] = report.unexpected;
              j["shape_mismatched"] = nlohmann::ordered_json::array();
              for (const auto& m : report.shape_mismatched)
                j["shape_mismatched"].push_back({{"name", m.name}, {"expected", m.expected.str()}, {"got", m.got.str()}});
              j["converted"] = nlohmann::ordered_json::array();
              for (const auto& c : report.converted)
                j["converted"].push_back(
                    {{"name", c.name}, {"from", std::string(name(c.from))}, {"to", std::string(name(c.to))}});
              std::cout << j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
            } else {
              std::cout << fmt::format("{} against {}: {}\n", ck.path().string(), against_name,
                                       report.ok() ? "loads strictly" : "does NOT load strictly");
              if (!report.empty()) std::cout << report.str() << "\n";
            }
            return int(report.ok() ? exit_ok : exit_failure);
          }};
}

}  // namespace molm::cli
