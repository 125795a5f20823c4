// A Q-Former initialised from a real pretrained BERT (all-MiniLM-L6-v2: 6 layers, 384 wide, 12
// heads, ../shared/data/models/minilm-l6/) as 3D-MoLM initialises its own from SciBERT (§3.3), checked
// against tests/golden/gen_qformer.py:
//   - the text-only pass equals transformers.BertModel on the same weights with its token-type
//     row 0 removed (the Q-Former has no token-type table), on 3 tokenized sentences with padding;
//   - the initialisation report names what was loaded, copied, created and dropped.
//   - the stage-1 passes, losses and gradients of the MiniLM-initialised model, its new tensors made
//     by the generator's formula (minilm_new.json), gradients compared as sums and first values.
// f32: 1e-4 relative, with a floor of a tenth of that times the tensor's largest value (gradients:
// 1e-4 of the value plus 1e-4 of the tensor's largest; see the stage-1 case).
// Returns 77 (skipped) when the shared MiniLM folder is absent.
#include "support/testing.hpp"

#include <molm/io/safetensors.hpp>
#include <molm/models/qformer/from_bert.hpp>

#include <algorithm>
#include <bit>
#include <fstream>

using namespace molm;
namespace qformer = molm::models::qformer;

namespace {

std::filesystem::path minilm() { return testing::shared_data_dir() / "models/minilm-l6"; }

void skip_without_minilm() {
  if (std::filesystem::exists(minilm() / "model.safetensors")) return;
  std::fprintf(stderr, "SKIP: %s is absent (set MOLM_DATA_DIR to the shared data folder)\n", minilm().c_str());
  std::exit(77);
}

void require_close_scaled(const Tensor& got, const Tensor& want, double rtol) {
  double scale = 0;
  for (double v : testing::values(want)) scale = std::max(scale, std::abs(v));
  testing::require_close(got, want, rtol, rtol * 0.1 * scale);
}

bool contains(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

}  // namespace

TEST_CASE("golden qformer minilm: the text pass equals BertModel without token types") {
  skip_without_minilm();
  const auto fx = load_safetensors(testing::golden_dir() / "qformer/minilm_text.safetensors");
  Generator gen(0);
  qformer::BertInitReport report;
  auto model = qformer::stage1_from_bert(minilm(), qformer::Config::paper(), gen, &report);
  model->eval();
  const auto& c = report.config;
  CHECK(c.num_hidden_layers == 6);
  CHECK(c.hidden_size == 384);
  CHECK(c.vocab_size == 30523);
  CHECK(c.dec_token_id == 30522);
  no_grad guard;
  const Tensor out = model->Qformer->text_pass(fx.at("text_ids"), fx.at("text_mask"));
  require_close_scaled(out, fx.at("last_hidden_state"), 1e-4);

  // What came from where (§3.3).
  CHECK(contains(report.loaded, "Qformer.bert.embeddings.word_embeddings.weight"));
  CHECK(contains(report.loaded, "Qformer.bert.encoder.layer.5.output.LayerNorm.weight"));
  CHECK(contains(report.copied, "Qformer.bert.encoder.layer.5.output_query.dense.weight"));
  CHECK(contains(report.created, "Qformer.bert.encoder.layer.4.crossattention.self.key.weight"));
  CHECK(contains(report.created, "Qformer.cls.predictions.transform.dense.weight"));  // a BertModel has no MLM head
  CHECK(contains(report.created, "query_tokens"));
  CHECK(contains(report.created, "Qformer.bert.embeddings.word_embeddings.weight [30522] ([DEC])"));
  CHECK(contains(report.dropped, "embeddings.token_type_embeddings.weight"));
  CHECK(contains(report.dropped, "pooler.dense.weight"));
  CHECK(report.loaded.size() + report.dropped.size() == 104);  // every tensor of the file is accounted for
  // The query FFNs start equal to the text FFNs.
  const auto layer = model->Qformer->bert->layer(3);
  CHECK(testing::values(layer->intermediate_query->dense->weight) == testing::values(layer->intermediate->dense->weight));
}

namespace {

// gen_qformer.py's formula for the tensors a BERT folder does not provide: splitmix64 over the
// FNV-1a 64 of the name and the flat index, uniform in [-a, a), rounded to f32.
Tensor formula_tensor(const std::string& name, const Shape& shape, double amplitude) {
  const std::uint64_t h = fnv1a64(name);
  Tensor t = Tensor::empty(shape, DType::f32);
  for (std::int64_t i = 0; i < t.numel(); ++i) {
    std::uint64_t z = h + static_cast<std::uint64_t>(i + 1) * 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    const double u = static_cast<double>(z >> 11) * 0x1.0p-53;
    t.data<float>()[i] = static_cast<float>(amplitude * (2 * u - 1));
  }
  return t;
}

}  // namespace

TEST_CASE("golden qformer minilm: the formula reproduces the generator's values bit for bit") {
  const double a = 0.02 * std::sqrt(3.0), b = 1 / std::sqrt(384.0);
  const auto bits = [](float f) { return std::bit_cast<std::uint32_t>(f); };
  CHECK(bits(formula_tensor("dec_row", {1, 384}, a).data<float>()[383]) == 0x3cb741bcu);
  CHECK(bits(formula_tensor("query_tokens", {1, 8, 384}, a).data<float>()[1000]) == 0x3cf13a2bu);
  CHECK(bits(formula_tensor("graph_proj.weight", {256, 384}, b).data<float>()[12345]) == 0xbd2cfdbeu);
}

TEST_CASE("golden qformer minilm: stage-1 passes, losses and gradients of a MiniLM-initialised model") {
  skip_without_minilm();
  const auto dir = testing::golden_dir() / "qformer";
  const auto fx = load_safetensors(dir / "minilm_stage1.safetensors");
  std::ifstream in(dir / "minilm_new.json");
  const auto spec = nlohmann::json::parse(in);

  qformer::Config fields = qformer::Config::paper();
  fields.encoder_width = 32;
  Generator gen(0);
  auto model = qformer::stage1_from_bert(minilm(), fields, gen);
  model->eval();
  {  // the tensors MiniLM does not provide: the generator's formula and constants
    no_grad guard;
    const auto own = model->state_dict();
    for (const auto& t : spec.at("tensors")) {
      const std::string name = t.at("name");
      const Shape shape(t.at("shape").get<std::vector<std::int64_t>>());
      const Tensor v = formula_tensor(name, shape, t.at("amplitude").get<double>());
      if (name == "dec_row") own.at("Qformer.bert.embeddings.word_embeddings.weight").narrow(0, 30522, 1).copy_(v);
      else Tensor(own.at(name)).copy_(v);
    }
    for (const auto& t : spec.at("constants")) Tensor(own.at(t.at("name").get<std::string>())).fill_(t.at("value").get<double>());
  }
  const qformer::MoleculeBatch mol{fx.at("M.graph"), fx.at("M.graph_padding").to(DType::boolean)};
  const qformer::TextBatch txt{fx.at("M.text_ids"), fx.at("M.text_mask")};
  const qformer::HardNegatives neg{fx.at("M.neg_graph_idx"), fx.at("M.neg_text_idx")};
  qformer::Stage1Options options;
  options.negatives = &neg;
  const auto out = model->forward(mol, txt, options);
  require_close_scaled(out.molecules.query.hidden, fx.at("M.query_output"), 1e-4);
  require_close_scaled(out.texts.hidden, fx.at("M.text_output"), 1e-4);
  require_close_scaled(out.gtm_logits, fx.at("M.gtm_logits"), 1e-4);
  for (const auto& [got, key] : {std::pair{out.loss_gtc, "M.loss_gtc"}, std::pair{out.loss_gtm, "M.loss_gtm"},
                                 std::pair{out.loss_lm, "M.loss_lm"}, std::pair{out.loss, "M.loss"}}) {
    INFO(key);
    testing::require_close(got, fx.at(key), 1e-4);
  }
  out.loss.backward();
  std::size_t checked = 0;
  for (auto& [name, p] : model->named_parameters()) {
    INFO(name);
    REQUIRE(p.grad().defined());
    const Tensor g = p.grad().to(DType::f64).contiguous().reshape({-1});
    // [Σg, Σg², Σ|g|] and the first values. Gradients the maths makes zero (every key bias; the
    // cross-attention query/key here, where each molecule only sees identical padding rows) are
    // rounding noise on both sides (mean |g| ~1e-10 against ~1e-3 elsewhere): both must be < 1e-7.
    const Tensor want = fx.at("M.gradsum." + name);
    const auto w = testing::values(want);
    const double n = static_cast<double>(g.numel());
    const double s = sum(g).item<double>(), s2 = sum(g * g).item<double>(), s1 = sum(sqrt(g * g)).item<double>();
    if (w[2] / n < 1e-7) {
      CHECK(s1 / n < 1e-7);
    } else {
      CHECK(std::abs(s2 - w[1]) <= 2e-4 * w[1]);
      CHECK(std::abs(s1 - w[2]) <= 1e-4 * w[2]);
      CHECK(std::abs(s - w[0]) <= 1e-4 * w[2]);  // a signed sum: held to the scale of Σ|g|
      // Elementwise: 1e-4 of the value plus 1e-4 of the tensor's largest (f32 sums over 384-1536
      // terms through 6 layers, in a different order than torch's).
      const Tensor head_want = fx.at("M.gradhead." + name);
      double scale = 0;
      for (double v : testing::values(head_want)) scale = std::max(scale, std::abs(v));
      testing::require_close(g.narrow(0, 0, head_want.numel()), head_want, 1e-4, 1e-4 * scale);
    }
    ++checked;
  }
  CHECK(checked == 180);
}
