// The Q-Former's structure and behaviour without a reference: parameter names and counts (§9.2,
// §9.5), the three rows of the cross-attention mask quirk (§3.4) and the corrected mask, the masks
// of the four passes, and the shape checks. Values against the reference: tests/golden/qformer_test.cpp.
#include "support/testing.hpp"

#include <molm/models/qformer/stage1.hpp>

using namespace molm;
namespace qformer = molm::models::qformer;

namespace {

// Molecule rows [B, N, W] with each molecule's padding rows identical (as Uni-Mol's are).
qformer::MoleculeBatch molecules(const std::vector<std::int64_t>& real, std::int64_t N, std::int64_t W,
                                 std::uint64_t seed) {
  const std::int64_t B = static_cast<std::int64_t>(real.size());
  Tensor rows = testing::random({B, N, W}, seed, DType::f32, -1.0, 1.0);
  Tensor pad = Tensor::empty({B, N}, DType::boolean);
  for (std::int64_t b = 0; b < B; ++b)
    for (std::int64_t n = 0; n < N; ++n) {
      pad.data<bool>()[b * N + n] = n >= real[b];
      if (n > real[b]) rows.select(0, b).select(0, n).copy_(rows.select(0, b).select(0, real[b]));
    }
  return {rows, pad};
}

// Changes rows of a molecule by adding one fixed random row (identical rows stay identical; not an
// affine change of each row, which ln_graph would undo).
void scale(Tensor view, double s) {
  view.copy_(add(view.clone(), mul(testing::random({1, view.shape()[1]}, 77, DType::f32), s)));
}

// Weights well away from BERT's N(0, 0.02), so every path has a visible effect.
void randomise(nn::Module& m, std::uint64_t seed) {
  no_grad guard;
  Generator gen(seed);
  for (auto& [name, p] : m.named_parameters()) p.copy_(add(randn(p.shape(), gen, p.dtype(), 0.0, 0.3), name.find("LayerNorm") != std::string::npos || name.find("ln_graph") != std::string::npos ? 1.0 : 0.0));
}

Tensor query_output(const qformer::Stage1& m, const qformer::MoleculeBatch& batch) {
  no_grad guard;
  return m.encode_molecules(batch, false).query.hidden;
}

}  // namespace

TEST_CASE("qformer: stage-1 parameter names follow the checkpoint (tiny) and the paper size has 178,864,501") {
  Generator gen(0);
  qformer::Stage1 m(qformer::Config::tiny(), gen);
  const auto sd = m.state_dict();
  for (const char* name :
       {"query_tokens", "ln_graph.weight", "Qformer.bert.embeddings.word_embeddings.weight",
        "Qformer.bert.embeddings.position_embeddings.weight", "Qformer.bert.embeddings.LayerNorm.bias",
        "Qformer.bert.encoder.layer.0.attention.self.query.weight", "Qformer.bert.encoder.layer.0.crossattention.self.key.weight",
        "Qformer.bert.encoder.layer.3.output_query.LayerNorm.weight", "Qformer.cls.predictions.bias",
        "Qformer.cls.predictions.transform.dense.weight", "Qformer.cls.predictions.decoder.weight", "graph_proj.bias",
        "text_proj.weight", "gtm_head.weight"})
    CHECK(sd.contains(name));
  CHECK_FALSE(sd.contains("Qformer.bert.encoder.layer.1.crossattention.self.key.weight"));
  CHECK(sd.at("Qformer.bert.encoder.layer.2.crossattention.self.key.weight").shape() == Shape({32, 16}));
  // The decoder is the word-embedding matrix itself.
  CHECK(sd.at("Qformer.cls.predictions.decoder.weight").data<float>() ==
        sd.at("Qformer.bert.embeddings.word_embeddings.weight").data<float>());

  SkipInit names_and_shapes_only;
  qformer::Stage1 paper(qformer::Config::paper(), gen);
  CHECK(paper.num_parameters() == 178'864'501);
  CHECK(paper.Qformer->num_parameters() == 178'462'067);
}

TEST_CASE("qformer: the cross-attention mask reproduces the three rows of the reference's quirk") {
  Generator gen(1);
  qformer::Stage1 m(qformer::Config::tiny(), gen);
  randomise(m, 9);
  m.eval();
  const std::int64_t N = 16, W = 16;
  // Molecule 0 has padding (rows 9..15); molecule 1 has none, yet the batch has padding.
  const auto batch = molecules({9, 16}, N, W, 2);
  const Tensor base = query_output(m, batch);

  SECTION("a molecule with padding sees only its padding rows") {
    auto changed = batch;
    changed.rows = batch.rows.clone();
    changed.rows.select(0, 0).narrow(0, 0, 9).copy_(testing::random({9, W}, 3, DType::f32));  // real atoms
    testing::require_close(query_output(m, changed).select(0, 0), base.select(0, 0), 1e-6, 1e-6);
    scale(changed.rows.select(0, 0).narrow(0, 9, 7), 2.0);  // its padding rows
    CHECK(testing::closeness(query_output(m, changed).select(0, 0), base.select(0, 0), 1e-3, 1e-3) > 1.0);
  }
  SECTION("a mask present but all false (a batch of longest molecules cut from a padded one) is uniform too") {
    auto longest = molecules({16}, N, W, 5);
    const Tensor a = query_output(m, longest);
    auto shuffled = longest;
    shuffled.rows = longest.rows.clone();
    const Tensor perm = Tensor::empty({N}, DType::i64);
    for (std::int64_t n = 0; n < N; ++n) perm.data<std::int64_t>()[n] = (n * 7 + 2) % N;
    shuffled.rows.select(0, 0).copy_(index_select(longest.rows.select(0, 0), 0, perm));
    testing::require_close(query_output(m, shuffled), a, 1e-5, 1e-6);
    CHECK_FALSE(qformer::reference_padding(longest.padding).defined());
  }
  SECTION("a molecule without padding in a padded batch averages all its rows (order does not matter)") {
    auto shuffled = batch;
    shuffled.rows = batch.rows.clone();
    const Tensor perm = Tensor::empty({N}, DType::i64);
    for (std::int64_t n = 0; n < N; ++n) perm.data<std::int64_t>()[n] = (n * 5 + 3) % N;
    shuffled.rows.select(0, 1).copy_(index_select(batch.rows.select(0, 1), 0, perm));
    testing::require_close(query_output(m, shuffled).select(0, 1), base.select(0, 1), 1e-5, 1e-6);
  }
  SECTION("without padding anywhere, attention is ordinary: real rows matter") {
    auto full = molecules({16, 16}, N, W, 4);
    full.padding = Tensor();  // the reference's None: no padding in the Uni-Mol batch
    const Tensor a = query_output(m, full);
    scale(full.rows.select(0, 0).narrow(0, 0, 3), -1.0);
    CHECK(testing::closeness(query_output(m, full).select(0, 0), a.select(0, 0), 1e-3, 1e-3) > 1.0);
  }
  SECTION("corrected mask: real rows matter, padding rows do not") {
    qformer::Config c = qformer::Config::tiny();
    c.corrected_cross_attention_mask = true;
    Generator g2(1);
    qformer::Stage1 mc(c, g2);
    randomise(mc, 9);
    mc.eval();
    const Tensor b0 = query_output(mc, batch);
    auto changed = batch;
    changed.rows = batch.rows.clone();
    scale(changed.rows.select(0, 0).narrow(0, 9, 7), 3.0);
    testing::require_close(query_output(mc, changed).select(0, 0), b0.select(0, 0), 1e-6, 1e-6);
    scale(changed.rows.select(0, 0).narrow(0, 0, 2), -1.0);
    CHECK(testing::closeness(query_output(mc, changed).select(0, 0), b0.select(0, 0), 1e-3, 1e-3) > 1.0);
  }
}

TEST_CASE("qformer: pass masks — text padding is hidden, generation is causal and sees every query") {
  Generator gen(5);
  qformer::Stage1 m(qformer::Config::tiny(), gen);
  randomise(m, 9);
  m.eval();
  no_grad guard;
  Tensor ids = Tensor::empty({1, 6}, DType::i64), mask = Tensor::empty({1, 6}, DType::i64);
  const std::int64_t v[6] = {1, 7, 9, 2, 0, 0};
  for (int i = 0; i < 6; ++i) {
    ids.data<std::int64_t>()[i] = v[i];
    mask.data<std::int64_t>()[i] = v[i] != 0;
  }
  // (b): the ids under padding do not matter for the real rows.
  const Tensor t0 = m.encode_texts({ids, mask}).hidden;
  Tensor ids2 = ids.clone();
  ids2.data<std::int64_t>()[5] = 33;
  testing::require_close(m.encode_texts({ids2, mask}).hidden.narrow(1, 0, 4), t0.narrow(1, 0, 4), 1e-6, 1e-6);
  // (d): changing token 3 leaves logits 0..2 unchanged (causal) but changes 3.
  const auto mol = molecules({5}, 8, 16, 6);
  const auto f = m.encode_molecules(mol);
  const Tensor l0 = m.lm_logits({ids, mask}, f);
  Tensor ids3 = ids.clone();
  ids3.data<std::int64_t>()[3] = 40;
  const Tensor l1 = m.lm_logits({ids3, mask}, f);
  testing::require_close(l1.narrow(1, 0, 3), l0.narrow(1, 0, 3), 1e-6, 1e-6);
  CHECK(testing::closeness(l1.narrow(1, 3, 1), l0.narrow(1, 3, 1), 1e-3, 1e-3) > 1.0);
  // (d) reads the molecule through the cache: a different molecule changes the first logits.
  const auto f2 = m.encode_molecules(molecules({5}, 8, 16, 7));
  CHECK(testing::closeness(m.lm_logits({ids, mask}, f2).narrow(1, 0, 1), l0.narrow(1, 0, 1), 1e-3, 1e-3) > 1.0);
}

TEST_CASE("qformer: bad inputs are named") {
  Generator gen(0);
  qformer::Stage1 m(qformer::Config::tiny(), gen);
  const auto mol = molecules({5}, 8, 16, 1);
  auto wrong = mol;
  wrong.rows = zeros({1, 8, 12});
  CHECK_THROWS_WITH(m.encode_molecules(wrong), Catch::Contains("encoder_width") || Catch::Contains("[1, 8, 12]"));
  CHECK_THROWS_WITH(m.encode_texts({zeros({2, 3}, DType::i64), zeros({2, 4}, DType::i64)}),
                    Catch::Contains("does not match"));
  CHECK_THROWS_WITH(qformer::Config::preset("huge"), Catch::Contains("unknown preset"));
  nlohmann::json j = qformer::Config::tiny();
  j["hiden_size"] = 3;
  CHECK_THROWS_WITH(j.get<qformer::Config>(), Catch::Contains("unknown field 'hiden_size'"));
  // Too long a text for the position table.
  CHECK_THROWS_WITH(m.encode_texts({ones({1, 40}, DType::i64), ones({1, 40}, DType::i64)}),
                    Catch::Contains("position embeddings"));
}

TEST_CASE("qformer: hard negatives are never the positive and follow the weights") {
  Tensor sim = Tensor::empty({3, 3}, DType::f64);
  const double s[9] = {5, 4, 0, 1, 5, 1, -3, 2, 5};
  std::copy(s, s + 9, sim.data<double>());
  const Tensor w = qformer::negative_weights(sim);
  Generator gen(7);
  std::vector<std::vector<int>> counts(3, std::vector<int>(3, 0));
  const int draws = 4000;
  for (int d = 0; d < draws; ++d) {
    const Tensor pick = qformer::sample_rows(w, gen);
    for (int r = 0; r < 3; ++r) ++counts[r][pick.data<std::int64_t>()[r]];
  }
  for (int r = 0; r < 3; ++r) {
    CHECK(counts[r][r] == 0);
    double total = 0;
    for (int c = 0; c < 3; ++c) total += w.data<double>()[r * 3 + c];
    for (int c = 0; c < 3; ++c) {
      const double p = w.data<double>()[r * 3 + c] / total;
      CHECK(std::abs(counts[r][c] / double(draws) - p) < 4 * std::sqrt(p * (1 - p) / draws) + 1e-9);
    }
  }
}

TEST_CASE("qformer: normalize matches its definition and passes a gradient check") {
  Tensor x = testing::random({3, 5}, 11, DType::f64);
  const Tensor y = normalize(x);
  x.set_requires_grad(true);
  for (int r = 0; r < 3; ++r) {
    double n = 0;
    for (int c = 0; c < 5; ++c) n += x.data<double>()[r * 5 + c] * x.data<double>()[r * 5 + c];
    for (int c = 0; c < 5; ++c) CHECK(y.data<double>()[r * 5 + c] == Approx(x.data<double>()[r * 5 + c] / std::sqrt(n)));
  }
  testing::gradcheck([](const std::vector<Tensor>& in) { return normalize(in[0]); }, {x});
}

TEST_CASE("qformer: training mode drops (hidden and attention probabilities), reproducibly; eval does not") {
  Generator init(12);
  Generator drop(99);
  qformer::Stage1 m(qformer::Config::tiny(), init, &drop);
  randomise(m, 13);
  const auto mol = molecules({5, 8}, 8, 16, 14);
  Tensor ids = Tensor::empty({2, 5}, DType::i64);
  const std::int64_t tok[10] = {1, 7, 9, 11, 2, 1, 8, 2, 0, 0};
  std::copy(tok, tok + 10, ids.data<std::int64_t>());
  const Tensor mask = ne(ids, zeros({}, DType::i64)).to(DType::i64);
  const qformer::HardNegatives neg{from_vector<std::int64_t>({1, 0}), from_vector<std::int64_t>({1, 0})};
  qformer::Stage1Options o;
  o.negatives = &neg;
  m.eval();
  const double eval1 = m.forward(mol, {ids, mask}, o).loss.item<double>();
  const double eval2 = m.forward(mol, {ids, mask}, o).loss.item<double>();
  CHECK(eval1 == eval2);
  m.train();
  drop.set_state(99, 0);
  const auto t1 = m.forward(mol, {ids, mask}, o);
  drop.set_state(99, 0);
  const auto t2 = m.forward(mol, {ids, mask}, o);
  CHECK(t1.loss.item<double>() == t2.loss.item<double>());  // same generator state, same masks
  CHECK(t1.loss.item<double>() != eval1);
  t1.loss.backward();  // the unfused attention path (probabilities dropped) is differentiable
  for (auto& [name, p] : m.named_parameters()) {
    INFO(name);
    CHECK(p.grad().defined());
  }
}
