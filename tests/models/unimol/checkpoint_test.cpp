// Uni-Mol checkpoints: the original layout in (config read off the weights, pretraining heads skipped
// by name, anything else strict), molm checkpoint directories out and back.
#include "support/testing.hpp"

#include <molm/io/safetensors.hpp>
#include <molm/models/unimol/checkpoint.hpp>

using namespace molm;
namespace unimol = molm::models::unimol;

namespace {

std::filesystem::path tiny_pt() { return testing::golden_dir() / "unimol" / "tiny.pt"; }

unimol::EncoderOutput run(const unimol::Encoder& e) {
  const auto in = load_safetensors(testing::golden_dir() / "unimol" / "inputs.safetensors");
  no_grad ng;
  return e.forward(in.at("tokens"), in.at("distances"), in.at("edge_types"));
}

}  // namespace

TEST_CASE("an original Uni-Mol .pt converts: config from the weights, round trip through a directory") {
  unimol::ConvertReport report;
  const auto original = unimol::load_original(tiny_pt(), &report);
  const auto tiny = unimol::Config::tiny();
  CHECK(report.config.layers == tiny.layers);
  CHECK(report.config.embed_dim == tiny.embed_dim);
  CHECK(report.config.heads == tiny.heads);
  CHECK(report.config.ffn_dim == tiny.ffn_dim);
  CHECK(report.config.gaussian_kernels == tiny.gaussian_kernels);
  CHECK(report.config.vocab_size == 31);
  CHECK(report.loaded == 37);
  CHECK(report.skipped.empty());

  const auto dir = testing::scratch_dir("unimol_convert") / "tiny";
  const auto converted = unimol::convert_checkpoint(tiny_pt(), dir);
  CHECK(std::filesystem::exists(dir / "config.json"));
  CHECK(std::filesystem::exists(dir / "model.safetensors"));
  const auto back = unimol::load_encoder(dir);
  testing::require_close(run(*back).atoms, run(*original).atoms, 0, 0);  // bit-identical
  CHECK_FALSE(back->is_training());
}

TEST_CASE("conversion skips the pretraining heads by name and refuses everything else") {
  std::map<std::string, Tensor> tensors;
  for (const auto& [name, t] : load_torch_state_dict(tiny_pt())) tensors.emplace(name, t);
  const auto dir = testing::scratch_dir("unimol_heads");

  auto with = tensors;
  with.emplace("lm_head.weight", zeros({31, 32}));
  with.emplace("dist_head.dense.weight", zeros({4, 4}));
  with.emplace("encoder.final_head_layer_norm.weight", ones({4}));
  save_safetensors(dir / "heads.safetensors", with);
  unimol::ConvertReport report;
  unimol::load_original(dir / "heads.safetensors", &report);
  CHECK(report.skipped == std::vector<std::string>{"dist_head.dense.weight", "encoder.final_head_layer_norm.weight",
                                                   "lm_head.weight"});

  auto unknown = tensors;
  unknown.emplace("encoder.extra.weight", zeros({2}));
  save_safetensors(dir / "unknown.safetensors", unknown);
  CHECK_THROWS_WITH(unimol::load_original(dir / "unknown.safetensors"), Catch::Contains("encoder.extra.weight"));

  auto missing = tensors;
  missing.erase("encoder.layers.1.fc2.bias");
  save_safetensors(dir / "missing.safetensors", missing);
  CHECK_THROWS_WITH(unimol::load_original(dir / "missing.safetensors"), Catch::Contains("encoder.layers.1.fc2.bias"));

  auto not_unimol = tensors;
  not_unimol.erase("gbf_proj.linear2.weight");
  save_safetensors(dir / "not.safetensors", not_unimol);
  CHECK_THROWS_WITH(unimol::load_original(dir / "not.safetensors"),
                    Catch::Contains("no tensor 'gbf_proj.linear2.weight' — not a Uni-Mol encoder checkpoint"));
}

TEST_CASE("load_encoder refuses a directory of another model") {
  const auto dir = testing::scratch_dir("unimol_other") / "ck";
  io::Checkpoint ck;
  ck.config = {{"model", "llama"}};
  ck.model.insert("w", zeros({2}));
  io::save_checkpoint(dir, ck);
  CHECK_THROWS_WITH(unimol::load_encoder(dir), Catch::Contains("does not describe a Uni-Mol encoder"));
}
