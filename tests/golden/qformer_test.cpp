// The Q-Former and the stage-1 losses against the reference (tests/golden/gen_qformer.py: LAVIS'
// Qformer.py and 3D-MoLM's blip2qformer.py transcribed in torch 2.1.2). A random-weight `tiny`
// stage-1 model loaded strictly under the checkpoint's names; three batches, one per row of the
// cross-attention quirk's table (§3.4): A every molecule padded, B no padding anywhere (mask absent),
// C padded batch whose longest molecule has none. For each: the four passes' outputs, features,
// similarities, matching logits, generation logits, the three losses and the gradient of the total
// w.r.t. every parameter; GTC with two simulated ranks (gathered features carry no gradient).
//
// Tolerances: f32 1e-4 relative; f64 1e-9, with an absolute floor of a tenth of that times the
// tensor's largest value (entries that cancel towards 0) and of f32 1e-6 / f64 1e-12 for gradients
// the maths makes exactly zero, which both sides leave at rounding noise (self-attention key biases;
// the cross-attention query/key of molecules that only see identical padding rows).
#include "support/testing.hpp"

#include <molm/io/safetensors.hpp>
#include <molm/models/qformer/stage1.hpp>

#include <fstream>

using namespace molm;
namespace qformer = molm::models::qformer;

namespace {

std::filesystem::path dir() { return testing::golden_dir() / "qformer"; }

qformer::Config tiny_config() {
  std::ifstream in(dir() / "tiny_config.json");
  return nlohmann::json::parse(in).get<qformer::Config>();
}

std::shared_ptr<qformer::Stage1> tiny_model(DType dtype) {
  Generator gen(3);
  auto m = std::make_shared<qformer::Stage1>(tiny_config(), gen);
  nn::StateDict sd;
  for (auto& [name, t] : load_safetensors(dir() / "tiny.safetensors")) sd.insert(name, t);
  const auto report = m->load_state_dict(sd);  // strict
  CHECK(report.missing.empty());
  CHECK(report.unexpected.empty());
  m->to(dtype);  // the f64 run uses the same (f32-exact) weights
  m->eval();
  return m;
}

struct Batch {
  qformer::MoleculeBatch molecules;
  qformer::TextBatch texts;
  qformer::HardNegatives negatives;
};

Batch batch(const std::map<std::string, Tensor>& in, const std::string& x, DType dtype) {
  // The reference's mask is None when the batch has no padding (batch B).
  return {qformer::MoleculeBatch::from_unimol(in.at(x + ".graph").to(dtype), in.at(x + ".graph_padding").to(DType::boolean)),
          {in.at(x + ".text_ids"), in.at(x + ".text_mask")},
          {in.at(x + ".neg_graph_idx"), in.at(x + ".neg_text_idx")}};
}

// Rows [first, first + n) of a batch.
Batch rows(const Batch& b, std::int64_t first, std::int64_t n) {
  const Tensor& pad = b.molecules.padding;
  return {{b.molecules.rows.narrow(0, first, n), pad.defined() ? pad.narrow(0, first, n) : pad},
          {b.texts.ids.narrow(0, first, n), b.texts.mask.narrow(0, first, n)},
          {}};
}

}  // namespace

TEST_CASE("golden qformer: state-dict names, order and shapes equal LAVIS' (tiny and paper)") {
  for (const auto& [file, config] : {std::pair{"tiny_keys.txt", tiny_config()}, std::pair{"paper_keys.txt", qformer::Config::paper()}}) {
    INFO(file);
    Generator gen(0);
    SkipInit names_only;
    qformer::Stage1 m(config, gen);
    std::ifstream in(dir() / file);
    std::vector<std::string> expected;
    std::string name, shape;
    std::int64_t count = -1;
    while (in >> name >> shape) {
      if (name == "parameters") count = std::stoll(shape);
      else expected.push_back(name + " " + shape);
    }
    std::vector<std::string> got;
    for (const auto& [n, t] : m.state_dict()) {
      std::string s;
      for (int i = 0; i < static_cast<int>(t.shape().size()); ++i) s += (i ? "x" : "") + std::to_string(t.shape()[i]);
      got.push_back(n + " " + s);
    }
    CHECK(got == expected);
    if (count >= 0) CHECK(m.num_parameters() == count);
  }
}

TEST_CASE("golden qformer: passes, losses and every gradient equal the reference on the three mask cases") {
  const auto inputs = load_safetensors(dir() / "batches.safetensors");
  for (const auto& [file, dtype, rtol, atol] :
       {std::tuple{"expected_f32.safetensors", DType::f32, 1e-4, 1e-6},
        std::tuple{"expected_f64.safetensors", DType::f64, 1e-9, 1e-12}}) {
    const auto expected = load_safetensors(dir() / file);
    // |got − want| ≤ rtol·|want| + max(atol, rtol·0.1·max|want|): entries near 0 among large ones
    // (logits, gradients) are held to a tenth of the tensor's scale, not to their own.
    auto close = [&](const Tensor& got, const std::string& key) {
      INFO(file << ": " << key);
      const Tensor& want = expected.at(key);
      double scale = 0;
      for (double v : testing::values(want)) scale = std::max(scale, std::abs(v));
      testing::require_close(got, want, rtol, std::max(atol, rtol * 0.1 * scale));
    };
    for (const std::string x : {"A", "B", "C"}) {
      INFO(file << " batch " << x);
      auto m = tiny_model(dtype);
      const Batch b = batch(inputs, x, dtype);
      qformer::Stage1Options options;
      options.negatives = &b.negatives;
      const auto out = m->forward(b.molecules, b.texts, options);
      close(out.molecules.query.hidden, x + ".query_output");
      close(out.texts.hidden, x + ".text_output");
      close(out.molecules.features, x + ".graph_feats");
      close(out.texts.features, x + ".text_feats");
      close(out.contrast.sim_g2t, x + ".sim_g2t");
      close(out.contrast.sim_t2g, x + ".sim_t2g");
      close(out.gtm_logits, x + ".gtm_logits");
      close(out.lm_logits, x + ".lm_logits");
      close(out.loss_gtc, x + ".loss_gtc");
      close(out.loss_gtm, x + ".loss_gtm");
      close(out.loss_lm, x + ".loss_lm");
      close(out.loss, x + ".loss");
      {  // pass (c) itself, every row, on the same 3B pairs
        no_grad guard;
        const auto p = qformer::Stage1::matching_pairs(b.texts, out.molecules.molecule, b.molecules.padding,
                                                       b.negatives);
        const Tensor h = m->Qformer->matching_pass(m->queries(p.texts.ids.shape()[0]), p.texts.ids,
                                                   p.texts.mask, p.molecule, p.padding);
        close(h, x + ".match_output");
      }
      out.loss.backward();
      std::size_t checked = 0;
      for (auto& [name, p] : m->named_parameters()) {
        REQUIRE(p.grad().defined());
        close(p.grad(), x + ".grad." + name);
        ++checked;
      }
      CHECK(checked == 126);
    }

    // GTC on two simulated ranks: A's samples {0, 1} and {2, 3}; each rank's loss and gradients.
    const Batch a = batch(inputs, "A", dtype);
    for (std::int64_t rank = 0; rank < 2; ++rank) {
      INFO(file << " rank " << rank);
      auto m = tiny_model(dtype);
      const Batch local = rows(a, 2 * rank, 2), other = rows(a, 2 * (1 - rank), 2);
      Tensor other_graph, other_text;
      {
        no_grad guard;
        other_graph = m->encode_molecules(other.molecules, false).features;
        other_text = m->encode_texts(other.texts).features;
      }
      const auto mol = m->encode_molecules(local.molecules, false);
      const auto txt = m->encode_texts(local.texts);
      const auto gather = [&](const Tensor& g, const Tensor& t) {
        const Tensor gs = rank == 0 ? cat({g.detach(), other_graph}, 0) : cat({other_graph, g.detach()}, 0);
        const Tensor ts = rank == 0 ? cat({t.detach(), other_text}, 0) : cat({other_text, t.detach()}, 0);
        return qformer::GatheredFeatures{gs, ts, 2 * rank};
      };
      const auto c = qformer::contrastive_loss(mol.features, txt.features, gather(mol.features, txt.features),
                                               m->config().temperature);
      const std::string key = "A.rank" + std::to_string(rank);
      close(c.loss, key + ".loss_gtc");
      c.loss.backward();
      for (auto& [name, p] : m->named_parameters()) {
        const Tensor g = p.grad().defined() ? p.grad() : zeros_like(p);
        close(g, key + ".grad." + name);
      }
    }
  }
}

TEST_CASE("golden qformer: under bf16 autocast the stage-1 step runs and stays within bf16 of the reference") {
  // The reference trains in bf16 (§4.5). The cross-attention mask is built in the scores' dtype
  // (bf16's finfo.min: f32's would round to −inf and turn batch C's uniform row into zeros).
  const auto inputs = load_safetensors(dir() / "batches.safetensors");
  const auto expected = load_safetensors(dir() / "expected_f32.safetensors");
  for (const std::string x : {"A", "B", "C"}) {
    INFO("batch " << x);
    auto m = tiny_model(DType::f32);
    const Batch b = batch(inputs, x, DType::f32);
    qformer::Stage1Options options;
    options.negatives = &b.negatives;
    autocast guard;
    const auto out = m->forward(b.molecules, b.texts, options);
    CHECK(out.molecules.query.hidden.dtype() == DType::f32);  // after LayerNorm with f32 weights
    for (const char* key : {"loss_gtc", "loss_gtm", "loss_lm", "loss"}) {
      const Tensor& got = key == std::string("loss_gtc") ? out.loss_gtc
                          : key == std::string("loss_gtm") ? out.loss_gtm
                          : key == std::string("loss_lm")  ? out.loss_lm
                                                           : out.loss;
      INFO(key);
      CHECK(got.dtype() == DType::f32);
      testing::require_close(got, expected.at(x + "." + key), 5e-2);
    }
    double scale = 0;
    for (double v : testing::values(expected.at(x + ".query_output"))) scale = std::max(scale, std::abs(v));
    testing::require_close(out.molecules.query.hidden, expected.at(x + ".query_output"), 5e-2, 2e-2 * scale);
    out.loss.backward();
    for (auto& [name, p] : m->named_parameters()) {
      INFO(name);
      REQUIRE(p.grad().defined());
      CHECK(p.grad().dtype() == DType::f32);
    }
  }
}
