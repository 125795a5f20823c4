// metrics/retrieval.hpp against a torch 2.1.2 transcription of 3D-MoLM's stage-1 retrieval
// evaluation (tests/golden/gen_retrieval_metrics.py): in-batch (groups of 64) and full-set,
// molecule→text and text→molecule, accuracy and R@20, with and without matching-head rerank,
// for N = 150 and N = 2000 on score matrices both sides build from the same integer formulas.
// All 64 numbers equal (they are 2-decimal roundings, compared exactly).
#include "support/testing.hpp"

#include <molm/metrics/retrieval.hpp>
#include <nlohmann/json.hpp>

#include <fstream>

using namespace molm::metrics;

namespace {
struct Matrices {
  std::vector<double> sim, match;
};

Matrices build(std::size_t n, double bonus) {
  Matrices out{std::vector<double>(n * n), std::vector<double>(n * n)};
  for (std::int64_t m = 0; m < static_cast<std::int64_t>(n); ++m)
    for (std::int64_t t = 0; t < static_cast<std::int64_t>(n); ++t) {
      const double eye = m == t ? 1.0 : 0.0;
      out.sim[m * n + t] = static_cast<double>((m * 7919 + t * 104729 + 13) % 100003) / 100003 + bonus * eye;
      out.match[m * n + t] = static_cast<double>((m * 31337 + t * 2713 + 7) % 65537) / 65537 * 0.8 + 0.25 * eye;
    }
  return out;
}

void require_equal(const RetrievalScores& got, const nlohmann::json& want, const std::string& what) {
  INFO(what << ": molm " << got.m2t_acc << " " << got.m2t_r20 << " " << got.t2m_acc << " " << got.t2m_r20
            << " vs reference " << want.dump());
  CHECK(got.m2t_acc == want.at("m2t_acc").get<double>());
  CHECK(got.m2t_r20 == want.at("m2t_r20").get<double>());
  CHECK(got.t2m_acc == want.at("t2m_acc").get<double>());
  CHECK(got.t2m_r20 == want.at("t2m_r20").get<double>());
}
}  // namespace

TEST_CASE("retrieval: the eight variants equal the reference's evaluation") {
  std::ifstream in(molm::testing::golden_dir() / "retrieval_metrics/retrieval.json");
  REQUIRE(in.good());
  const auto fixture = nlohmann::json::parse(in);
  REQUIRE(fixture.at("cases").size() == 4);
  for (const auto& c : fixture.at("cases")) {
    const auto n = c.at("n").get<std::size_t>();
    const Matrices mats = build(n, c.at("bonus").get<double>());
    const ScoreMatrix sim{mats.sim.data(), n};
    const MatchScore g = [&](std::size_t m, std::size_t t) { return mats.match[m * n + t]; };
    const std::string id = "N " + std::to_string(n) + ", bonus " + c.at("bonus").dump();
    require_equal(retrieval_inbatch(sim, 64), c.at("inbatch"), id + " in-batch");
    require_equal(retrieval_inbatch(sim, 64, g), c.at("inbatch_rerank"), id + " in-batch rerank");
    require_equal(retrieval_full(sim), c.at("full"), id + " full");
    require_equal(retrieval_full_rerank(sim, g, 64), c.at("full_rerank"), id + " full rerank");
  }
}

TEST_CASE("retrieval: Python's round(x, 2), ties and errors") {
  CHECK(python_round2(0.125) == 0.12);  // an exact binary tie goes to even
  CHECK(python_round2(0.375) == 0.38);
  CHECK(python_round2(2.675) == 2.67);  // 2.675 is 2.67499999... in binary
  CHECK(python_round2(2.0 / 3 * 100) == 66.67);
  // Equal scores: the lower index ranks first (a stable descending sort).
  const std::vector<double> flat(9, 1.0);
  const RetrievalScores s = retrieval_full({flat.data(), 3});
  CHECK(s.m2t_acc == 33.33);  // only molecule 0 finds its text first
  CHECK(s.m2t_r20 == 100.0);
  CHECK_THROWS_AS(retrieval_full_rerank({flat.data(), 3}, [](std::size_t, std::size_t) { return 0.0; }, 64),
                  molm::error);
}
