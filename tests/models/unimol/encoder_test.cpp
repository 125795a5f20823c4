// The Uni-Mol encoder against the reference (tests/golden/gen_unimol.py: unimol-tools' modules run as
// 3D-MoLM runs them). A random-weight `tiny` model saved in Uni-Mol's checkpoint layout (.pt, "model"
// key) is loaded through molm's checkpoint reader with strict names; 3 molecules of different sizes
// padded to 24; the atom outputs (padding rows included: the Q-Former reads them) and the gradients
// of L = Σ atoms ⊙ W for every parameter and for the distances.
//
// Tolerances: f32 1e-4 relative (+1e-5 absolute for values that cancel towards 0), as issue #7 asks;
// f64 1e-9: the reference run in double throughout (its Gaussian basis' float32 casts lifted).
#include "support/testing.hpp"

#include <molm/io/safetensors.hpp>
#include <molm/io/torch_checkpoint.hpp>
#include <molm/autograd/autocast.hpp>
#include <molm/models/unimol/encoder.hpp>

#include <fstream>

using namespace molm;
namespace unimol = molm::models::unimol;

namespace {

std::filesystem::path dir() { return testing::golden_dir() / "unimol"; }

std::shared_ptr<unimol::Encoder> tiny_from_checkpoint(DType dtype) {
  Generator gen(1);
  auto enc = std::make_shared<unimol::Encoder>(unimol::Config::tiny(), gen);
  enc->to(dtype);
  const auto report = enc->load_state_dict(load_torch_state_dict(dir() / "tiny.pt"));  // strict
  CHECK(report.missing.empty());
  CHECK(report.unexpected.empty());
  enc->eval();
  return enc;
}

}  // namespace

TEST_CASE("unimol encoder: outputs and every gradient equal the reference, padding rows included") {
  const auto inputs = load_safetensors(dir() / "inputs.safetensors");
  for (const auto& [file, dtype, rtol, atol] :
       {std::tuple{"expected_f32.safetensors", DType::f32, 1e-4, 1e-5},
        std::tuple{"expected_f64.safetensors", DType::f64, 1e-9, 1e-12}}) {
    INFO(file);
    const auto expected = load_safetensors(dir() / file);
    auto enc = tiny_from_checkpoint(dtype);
    Tensor dist = inputs.at("distances").to(dtype).clone();
    dist.set_requires_grad(true);
    const auto out = enc->forward(inputs.at("tokens"), dist, inputs.at("edge_types"));
    REQUIRE(out.atoms.shape() == Shape({3, 24, 32}));
    testing::require_close(out.atoms, expected.at("atoms"), rtol, atol);
    CHECK(testing::values(out.padding.to(DType::u8)) == testing::values(expected.at("padding")));

    sum(mul(out.atoms, expected.at("loss_weights"))).backward();
    testing::require_close(dist.grad(), expected.at("grad_distances"), rtol, atol);
    std::size_t checked = 0;
    for (auto& [name, p] : enc->named_parameters()) {
      INFO(name);
      REQUIRE(p.grad().defined());
      testing::require_close(p.grad(), expected.at("grad." + name), rtol, atol);
      ++checked;
    }
    CHECK(checked == 37);  // embed 1 + LayerNorms 4 + 2 layers × 12 + gbf_proj 4 + gbf 4
  }
}

TEST_CASE("unimol encoder: the paper preset has the checkpoint's names, shapes and 47,330,626 parameters") {
  std::ifstream in(dir() / "paper_keys.txt");
  REQUIRE(in.good());
  std::vector<std::string> expected;
  std::int64_t expected_count = -1;
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("# parameters ", 0) == 0) expected_count = std::stoll(line.substr(13));
    else if (!line.empty()) expected.push_back(line);
  }
  Generator gen(0);
  unimol::Encoder paper(unimol::Config::paper(), gen);
  std::vector<std::string> got;
  for (const auto& [name, t] : paper.state_dict()) {
    std::string shape = "[";
    for (std::int64_t i = 0; i < t.dim(); ++i) shape += (i ? "," : "") + std::to_string(t.shape()[i]);
    got.push_back(name + " " + shape + "]");
  }
  CHECK(got == expected);
  CHECK(paper.num_parameters() == expected_count);
  CHECK(expected_count == 47330626);
}

TEST_CASE("unimol encoder: padding rows do not depend on how much padding the batch adds") {
  const auto inputs = load_safetensors(dir() / "inputs.safetensors");
  auto enc = tiny_from_checkpoint(DType::f64);
  no_grad ng;
  const Tensor tokens = inputs.at("tokens"), dist = inputs.at("distances").to(DType::f64),
               edges = inputs.at("edge_types");
  const auto full = enc->forward(tokens, dist, edges);
  // molecule 0 (7 tokens) alone, padded to 8 instead of 24
  const auto small = enc->forward(tokens.narrow(0, 0, 1).narrow(1, 0, 8).contiguous(),
                                  dist.narrow(0, 0, 1).narrow(1, 0, 8).narrow(2, 0, 8).contiguous(),
                                  edges.narrow(0, 0, 1).narrow(1, 0, 8).narrow(2, 0, 8).contiguous());
  testing::require_close(small.atoms.select(0, 0), full.atoms.select(0, 0).narrow(0, 0, 8), 1e-10, 1e-12);
  // every padding row of molecule 0 equals its first padding row (index 7)
  for (std::int64_t r = 8; r < 24; ++r)
    testing::require_close(full.atoms.select(0, 0).select(0, r), full.atoms.select(0, 0).select(0, 7), 1e-10, 1e-12);
}

TEST_CASE("unimol encoder: bad inputs are refused with the reason") {
  Generator gen(0);
  unimol::Encoder enc(unimol::Config::tiny(), gen);
  const Tensor tokens = full({1, 4}, 4.0, DType::i64), dist = zeros({1, 4, 4}), edges = zeros({1, 4, 4}, DType::i64);
  CHECK_THROWS_WITH(enc.forward(tokens, zeros({1, 4, 5}), edges), Catch::Contains("expects distances and edge types [1, 4, 4]"));
  CHECK_THROWS_WITH(enc.forward(full({1, 4}, 31.0, DType::i64), dist, edges), Catch::Contains("outside the vocabulary of 31"));
  CHECK_THROWS_WITH(unimol::Config::preset("huge"), Catch::Contains("tiny, small, paper"));
  nlohmann::json j = unimol::Config::tiny();
  j["layerz"] = 3;
  CHECK_THROWS_WITH(j.get<unimol::Config>(), Catch::Contains("unknown field 'layerz'"));
}

TEST_CASE("unimol encoder: config round-trips through JSON; training mode drops, eval mode does not") {
  const nlohmann::json j = unimol::Config::small();
  const auto back = j.get<unimol::Config>();
  CHECK(back.layers == 4);
  CHECK(back.embed_dim == 128);
  CHECK(nlohmann::json(back) == j);

  const auto inputs = load_safetensors(dir() / "inputs.safetensors");
  Generator gen(1), drop(5);
  unimol::Encoder enc(unimol::Config::tiny(), gen, &drop);
  no_grad ng;
  const Tensor dist = inputs.at("distances");
  enc.eval();
  const auto a = enc.forward(inputs.at("tokens"), dist, inputs.at("edge_types"));
  const auto b = enc.forward(inputs.at("tokens"), dist, inputs.at("edge_types"));
  testing::require_close(a.atoms, b.atoms, 0, 0);
  enc.train();
  const auto c = enc.forward(inputs.at("tokens"), dist, inputs.at("edge_types"));
  CHECK(testing::values(c.atoms) != testing::values(a.atoms));  // dropout changed something
}

TEST_CASE("unimol encoder: under bf16 autocast the outputs stay within 2e-2 of the f32 reference") {
  const auto inputs = load_safetensors(dir() / "inputs.safetensors");
  const auto expected = load_safetensors(dir() / "expected_f32.safetensors");
  auto enc = tiny_from_checkpoint(DType::f32);
  autograd::autocast guard(DType::bf16);
  no_grad ng;
  const auto out = enc->forward(inputs.at("tokens"), inputs.at("distances"), inputs.at("edge_types"));
  CHECK(out.atoms.dtype() == DType::f32);  // products in bf16, everything else (softmax, norms) in f32
  // relative to the output's scale: LayerNorm outputs are O(1), so 2e-2 absolute is 2e-2 relative
  testing::require_close(out.atoms, expected.at("atoms"), 2e-2, 2e-2);
  CHECK(testing::values(out.atoms) != testing::values(expected.at("atoms")));  // bf16 really ran
}
