// Stage-1 retrieval helpers (models/qformer/retrieval.hpp): the similarity is the max over queries of
// the dot products, top_k orders by score with ties in index order, rerank re-sorts by s + g, and
// the per-molecule matching logits equal the model's matching head on the explicit pairs.
#include "support/testing.hpp"

#include <molm/models/qformer/retrieval.hpp>

using namespace molm;
namespace qformer = molm::models::qformer;

TEST_CASE("qformer retrieval: similarity is the max over queries of <z_q, t>") {
  const Tensor z = testing::random({3, 4, 5}, 1, DType::f32), t = testing::random({2, 5}, 2, DType::f32);
  const Tensor s = qformer::similarity(z, t);
  REQUIRE(s.shape() == Shape({3, 2}));
  for (int m = 0; m < 3; ++m)
    for (int c = 0; c < 2; ++c) {
      double best = -1e300;
      for (int q = 0; q < 4; ++q) {
        double dot = 0;
        for (int e = 0; e < 5; ++e) dot += double(z.data<float>()[(m * 4 + q) * 5 + e]) * t.data<float>()[c * 5 + e];
        best = std::max(best, dot);
      }
      CHECK(s.data<double>()[m * 2 + c] == Approx(best).epsilon(1e-6));
    }
}

TEST_CASE("qformer retrieval: top_k and rerank order candidates, ties by index") {
  Tensor s = Tensor::empty({1, 5}, DType::f64);
  const double v[5] = {0.1, 0.9, 0.5, 0.9, -1};
  std::copy(v, v + 5, s.data<double>());
  auto hits = qformer::top_k(s, 3);
  REQUIRE(hits[0].size() == 3);
  CHECK(hits[0][0].index == 1);
  CHECK(hits[0][1].index == 3);
  CHECK(hits[0][2].index == 2);
  qformer::rerank(hits, [](std::int64_t, const std::vector<std::int64_t>& c) {
    Tensor g = Tensor::empty({static_cast<std::int64_t>(c.size())}, DType::f64);
    for (std::size_t i = 0; i < c.size(); ++i) g.data<double>()[i] = c[i] == 2 ? 1.0 : 0.0;  // lift candidate 2
    return g;
  });
  CHECK(hits[0][0].index == 2);
  CHECK(hits[0][0].score == Approx(1.5));
  CHECK(hits[0][0].reranked);
  CHECK(hits[0][1].index == 1);
  CHECK(qformer::top_k(s, 10)[0].size() == 5);
}

TEST_CASE("qformer retrieval: match logits equal the matching head on the explicit pairs") {
  Generator gen(3);
  qformer::Stage1 model(qformer::Config::tiny(), gen);
  model.eval();
  const Tensor atoms = testing::random({2, 8, 16}, 4, DType::f32);
  Tensor padding = zeros({2, 8}, DType::boolean);
  for (int n = 5; n < 8; ++n) padding.data<bool>()[n] = true;  // molecule 0 padded, 1 not
  const auto mols = qformer::encode_molecule_batch(model, atoms, padding);
  REQUIRE(mols.size() == 2);
  Tensor ids = Tensor::empty({3, 4}, DType::i64), mask = ones({3, 4}, DType::i64);
  const std::int64_t tok[12] = {1, 5, 6, 2, 1, 7, 2, 0, 1, 9, 10, 2};
  std::copy(tok, tok + 12, ids.data<std::int64_t>());
  mask.data<std::int64_t>()[7] = 0;
  const auto txts = qformer::encode_text_batch(model, ids, mask);
  const Tensor g = qformer::match_logits(model, mols, 1, txts, {2, 0});
  no_grad guard;
  const Tensor mol = model.ln_graph->forward(atoms);
  for (int k = 0; k < 2; ++k) {
    const std::int64_t t = k == 0 ? 2 : 0;
    const Tensor direct = model.match_logits({ids.narrow(0, t, 1), mask.narrow(0, t, 1)}, mol.narrow(0, 1, 1),
                                             padding.narrow(0, 1, 1));
    CHECK(g.data<double>()[k] == Approx(direct.data<float>()[1]).epsilon(1e-5));
  }
  // The batch's mask travels with each molecule: molecule 1 (unpadded in a padded batch) keeps it.
  CHECK(mols.padding[1].defined());
}

TEST_CASE("qformer retrieval: evaluate_retrieval equals the metrics on the full similarity and matching matrices") {
  Generator gen(6);
  qformer::Stage1 model(qformer::Config::tiny(), gen);
  model.eval();
  const std::int64_t n = 5;
  Tensor padding = zeros({n, 8}, DType::boolean);
  for (std::int64_t b = 0; b < n; ++b)
    for (std::int64_t r = 4 + b % 3; r < 8; ++r) padding.data<bool>()[b * 8 + r] = true;
  const auto mols = qformer::encode_molecule_batch(model, testing::random({n, 8, 16}, 7, DType::f32), padding);
  Tensor ids = Tensor::empty({n, 5}, DType::i64);
  for (std::int64_t i = 0; i < n * 5; ++i) ids.data<std::int64_t>()[i] = i % 5 == 0 ? 1 : i % 5 == 4 ? 2 : 3 + (i * 7) % 50;
  const auto txts = qformer::encode_text_batch(model, ids, ones({n, 5}, DType::i64));
  const auto report = qformer::evaluate_retrieval(model, mols, txts, 2, 3);

  const Tensor sim = qformer::similarity(mols.features, txts.features);
  std::vector<double> g(n * n);
  std::vector<std::int64_t> all{0, 1, 2, 3, 4};
  for (std::int64_t m = 0; m < n; ++m) {
    const Tensor row = qformer::match_logits(model, mols, m, txts, all);
    std::copy(row.data<double>(), row.data<double>() + n, g.begin() + m * n);
  }
  const metrics::ScoreMatrix s{sim.data<double>(), static_cast<std::size_t>(n)};
  const metrics::MatchScore match = [&](std::size_t m, std::size_t t) { return g[m * n + t]; };
  const auto same = [](const metrics::RetrievalScores& a, const metrics::RetrievalScores& b) {
    CHECK(a.m2t_acc == b.m2t_acc);
    CHECK(a.m2t_r20 == b.m2t_r20);
    CHECK(a.t2m_acc == b.t2m_acc);
    CHECK(a.t2m_r20 == b.t2m_r20);
  };
  same(report.inbatch, metrics::retrieval_inbatch(s, 2));
  same(report.inbatch_rerank, metrics::retrieval_inbatch(s, 2, match));
  same(report.full, metrics::retrieval_full(s));
  same(report.full_rerank, metrics::retrieval_full_rerank(s, match, 3));
  CHECK_THROWS_WITH(qformer::evaluate_retrieval(model, mols, qformer::encode_text_batch(model, ids.narrow(0, 0, 2),
                                                                                      ones({2, 5}, DType::i64))),
                    Catch::Contains("one text per molecule"));
}

TEST_CASE("qformer retrieval: per-text matching logits, grouped by batch shape, equal the per-molecule ones") {
  Generator gen(9);
  qformer::Stage1 model(qformer::Config::tiny(), gen);
  model.eval();
  Tensor pad8 = zeros({2, 8}, DType::boolean);
  pad8.data<bool>()[7] = true;  // batch 1 (N = 8) padded: its mask is present
  auto mols = qformer::encode_molecule_batch(model, testing::random({2, 8, 16}, 10, DType::f32), pad8);
  // batch 2 (N = 16) without padding: its mask is absent
  mols.append(qformer::encode_molecule_batch(model, testing::random({2, 16, 16}, 11, DType::f32),
                                             zeros({2, 16}, DType::boolean)));
  REQUIRE(mols.padding[1].defined());
  REQUIRE_FALSE(mols.padding[2].defined());
  Tensor ids = Tensor::empty({2, 4}, DType::i64);
  const std::int64_t tok[8] = {1, 5, 6, 2, 1, 9, 2, 0};
  std::copy(tok, tok + 8, ids.data<std::int64_t>());
  const auto txts = qformer::encode_text_batch(model, ids, ne(ids, zeros({}, DType::i64)).to(DType::i64));
  const std::vector<std::int64_t> candidates{3, 0, 2, 1};
  const Tensor g = qformer::match_logits_for_text(model, mols, candidates, txts, 1);
  for (std::size_t i = 0; i < candidates.size(); ++i)
    CHECK(g.data<double>()[i] ==
          Approx(qformer::match_logits(model, mols, candidates[i], txts, {1}).data<double>()[0]).epsilon(1e-5));
}
