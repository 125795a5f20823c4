// Stage-1 checkpoints: a file in the exact layout of 3D-MoLM's released stage1.ckpt (paper shapes,
// bf16, `blip2qformer.` prefix, tied decoder, Lightning hyper-parameters with argparse objects;
// tests/golden/gen_released_stage1.py) loads strictly; damaged files are errors naming the tensor;
// molm stage-1 directories round-trip.
#include "support/testing.hpp"

#include <molm/io/safetensors.hpp>
#include <molm/models/qformer/checkpoint.hpp>

using namespace molm;
namespace qformer = molm::models::qformer;
namespace unimol = molm::models::unimol;

namespace {
std::filesystem::path released() { return testing::golden_dir() / "released"; }

// A tiny stage-1 model's state dict in the released layout, as a safetensors file.
std::filesystem::path tiny_released(const std::string& name, const std::function<void(std::map<std::string, Tensor>&)>& edit) {
  Generator gen(4);
  qformer::Config c = qformer::Config::tiny();
  qformer::Stage1 m(c, gen);
  std::map<std::string, Tensor> tensors;
  for (const auto& [n, t] : m.state_dict()) tensors.emplace(std::string(qformer::kReleasedPrefix) + n, t.clone());
  edit(tensors);
  const auto path = testing::scratch_dir("qformer_ckpt") / name;
  save_safetensors(path, tensors);
  return path;
}
}  // namespace

TEST_CASE("qformer checkpoint: the released stage-1 layout loads strictly at the paper's shapes") {
  qformer::ReleasedReport report;
  auto model = qformer::load_released_stage1(released() / "stage1.ckpt", {}, &report);
  const qformer::Config& c = report.config;
  CHECK(c.num_hidden_layers == 12);
  CHECK(c.hidden_size == 768);
  CHECK(c.num_attention_heads == 12);
  CHECK(c.vocab_size == 31091);
  CHECK(c.dec_token_id == 31090);
  CHECK(c.encoder_width == 512);
  CHECK(c.num_query_tokens == 8);
  CHECK(c.cross_attention_freq == 2);
  CHECK(c.embed_dim == 256);
  CHECK(report.tensors == 344);
  CHECK(report.load.ok());
  CHECK(report.load.converted.size() == 344);  // bf16 → f32
  CHECK(model->num_parameters() == 178'864'501);
  // The tie survives loading: one tensor under both names.
  const auto sd = model->state_dict();
  CHECK(sd.at("Qformer.cls.predictions.decoder.weight").data<float>() ==
        sd.at("Qformer.bert.embeddings.word_embeddings.weight").data<float>());
}

TEST_CASE("qformer checkpoint: damaged stage-1 files are errors that name the tensor") {
  const auto missing = tiny_released("missing.safetensors", [](auto& t) {
    t.erase("blip2qformer.Qformer.bert.encoder.layer.1.output_query.dense.bias");
  });
  CHECK_THAT(testing::error_of([&] { qformer::load_released_stage1(missing, 4); }),
             Catch::Contains("Qformer.bert.encoder.layer.1.output_query.dense.bias"));
  const auto shaped = tiny_released("shape.safetensors", [](auto& t) {
    t["blip2qformer.gtm_head.weight"] = zeros({3, 32});
  });
  CHECK_THAT(testing::error_of([&] { qformer::load_released_stage1(shaped, 4); }), Catch::Contains("gtm_head.weight"));
  const auto foreign = tiny_released("foreign.safetensors", [](auto& t) { t["graph_encoder.embed_tokens.weight"] = zeros({31, 16}); });
  CHECK_THAT(testing::error_of([&] { qformer::load_released_stage1(foreign, 4); }),
             Catch::Contains("graph_encoder.embed_tokens.weight") && Catch::Contains("outside 'blip2qformer.'"));
  const auto cross = tiny_released("cross.safetensors", [](auto& t) {
    for (auto it = t.begin(); it != t.end();)
      it = it->first.find("layer.0.crossattention") != std::string::npos ? t.erase(it) : std::next(it);
  });
  CHECK_THAT(testing::error_of([&] { qformer::load_released_stage1(cross, 4); }),
             Catch::Contains("layer 0 has no crossattention"));
  // Intact, it loads, with the head count given.
  const auto good = tiny_released("good.safetensors", [](auto&) {});
  qformer::ReleasedReport r;
  qformer::load_released_stage1(good, 4, &r);
  CHECK(r.config.num_attention_heads == 4);
  CHECK(r.config.num_query_tokens == 4);
}

TEST_CASE("qformer checkpoint: a molm stage-1 directory round-trips encoder, model and vocabulary") {
  Generator gen(8);
  unimol::Config uc = unimol::Config::tiny();
  uc.embed_dim = 16;
  uc.heads = 2;
  auto encoder = std::make_shared<unimol::Encoder>(uc, gen);
  qformer::Stage1 model(qformer::Config::tiny(), gen);
  const auto dir = testing::scratch_dir("qformer_dir") / "stage1";
  const auto vocab = testing::scratch_dir("qformer_dir") / "vocab.txt";
  std::ofstream(vocab) << "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nbenzene\n";
  qformer::save_stage1(dir, *encoder, model, vocab);
  const auto ck = qformer::load_stage1(dir);
  CHECK(ck.vocab == dir / "vocab.txt");
  CHECK(testing::read_file(ck.vocab) == testing::read_file(vocab));
  CHECK(ck.model->config().num_query_tokens == 4);
  for (const auto& [name, t] : model.state_dict()) {
    INFO(name);
    CHECK(testing::values(ck.model->state_dict().at(name)) == testing::values(t));
  }
  CHECK(testing::values(ck.encoder->state_dict().at("embed_tokens.weight")) ==
        testing::values(encoder->state_dict().at("embed_tokens.weight")));
  // The tied aliases are stored once.
  CHECK_FALSE(load_safetensors(dir / "model.safetensors").count("Qformer.cls.predictions.decoder.weight"));
  CHECK(ck.encoder->parameters().front().requires_grad() == false);
}
