// Molecule–text retrieval numbers as 3D-MoLM's stage-1 evaluation computes them
// (model/blip2_stage1.py; reference-model.md §7.1), from score matrices: sim[m][t] = s(molecule m,
// text t) = max over queries of <z_q, t>, and optionally the matching head's positive logit g[m][t].
// Pair i (molecule i, text i) is the true pair; rows are in the evaluation order (the seeded
// permutation of the test set), which the caller applies.
//
// - M2T ranks the texts of a molecule's row, T2M the molecules of a text's column, by descending
//   score; rank = position of the true partner. Ties keep index order (a stable sort).
// - In-batch: consecutive groups of `batch` (64; the last smaller); with rerank the group's scores
//   become sim + g.
// - Full set: all N candidates; with rerank the top `candidates` (64) by sim are re-sorted by
//   sim + g and only they count (a true partner outside them is a miss).
// - Accuracy = share at rank 0, R@20 = share at rank < 20, ×100, rounded to 2 decimals by Python's
//   round(). The reference's arithmetic is kept: in-batch shares are count / N in double; full-set
//   shares are a float32 mean (torch), then ×100 in double.
#pragma once

#include "molm/core/error.hpp"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <numeric>
#include <vector>

namespace molm::metrics {

/// A row-major n×n score matrix (molecules × texts), not owned.
struct ScoreMatrix {
  const double* data;
  std::size_t n;
  double operator()(std::size_t m, std::size_t t) const { return data[m * n + t]; }
};

/// The four numbers of one variant, ×100 and rounded to 2 decimals.
struct RetrievalScores {
  double m2t_acc = 0, m2t_r20 = 0, t2m_acc = 0, t2m_r20 = 0;
};

/// Python's round(x, 2): the double nearest the correctly rounded 2-decimal value (half-even).
inline double python_round2(double x) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.2f", x);  // glibc rounds the exact binary value, ties to even
  return std::strtod(buf, nullptr);
}

namespace detail {
/// Position of candidate `truth` when `score(k)`, k < count, is sorted descending (stable).
template <class Score>
std::size_t rank_of(std::size_t truth, std::size_t count, Score&& score) {
  const double s = score(truth);
  std::size_t rank = 0;
  for (std::size_t k = 0; k < count; ++k) {
    const double v = score(k);
    if (v > s || (v == s && k < truth)) ++rank;
  }
  return rank;
}

struct RankCounts {
  std::int64_t m2t_top1 = 0, m2t_top20 = 0, t2m_top1 = 0, t2m_top20 = 0, n = 0;
  void add(std::size_t m2t_rank, std::size_t t2m_rank) {
    m2t_top1 += m2t_rank == 0, m2t_top20 += m2t_rank < 20;
    t2m_top1 += t2m_rank == 0, t2m_top20 += t2m_rank < 20;
    ++n;
  }
  RetrievalScores inbatch() const {  // Python: round(count / allcnt * 100, 2)
    auto f = [&](std::int64_t c) { return python_round2(static_cast<double>(c) / static_cast<double>(n) * 100); };
    return {f(m2t_top1), f(m2t_top20), f(t2m_top1), f(t2m_top20)};
  }
  RetrievalScores fullset() const {  // Python: round(float(float32 mean) * 100, 2)
    auto f = [&](std::int64_t c) {
      return python_round2(static_cast<double>(static_cast<float>(c) / static_cast<float>(n)) * 100);
    };
    return {f(m2t_top1), f(m2t_top20), f(t2m_top1), f(t2m_top20)};
  }
};
}  // namespace detail

/// g(m, t): the matching head's positive logit for molecule m and text t (raw, no softmax).
using MatchScore = std::function<double(std::size_t molecule, std::size_t text)>;

/// In-batch retrieval (eval_retrieval_inbatch_with_rerank); with `match`, the rerank variant.
inline RetrievalScores retrieval_inbatch(const ScoreMatrix& sim, std::size_t batch = 64, const MatchScore& match = {}) {
  MOLM_CHECK(sim.n > 0 && batch > 0, "retrieval", "empty score matrix or batch size 0");
  detail::RankCounts counts;
  for (std::size_t begin = 0; begin < sim.n; begin += batch) {
    const std::size_t size = std::min(batch, sim.n - begin);
    auto score = [&](std::size_t m, std::size_t t) {
      return match ? sim(begin + m, begin + t) + match(begin + m, begin + t) : sim(begin + m, begin + t);
    };
    for (std::size_t i = 0; i < size; ++i)
      counts.add(detail::rank_of(i, size, [&](std::size_t t) { return score(i, t); }),
                 detail::rank_of(i, size, [&](std::size_t m) { return score(m, i); }));
  }
  return counts.inbatch();
}

/// Full-set retrieval over all N candidates (eval_retrieval_fullset).
inline RetrievalScores retrieval_full(const ScoreMatrix& sim) {
  MOLM_CHECK(sim.n > 0, "retrieval", "empty score matrix");
  detail::RankCounts counts;
  for (std::size_t i = 0; i < sim.n; ++i)
    counts.add(detail::rank_of(i, sim.n, [&](std::size_t t) { return sim(i, t); }),
               detail::rank_of(i, sim.n, [&](std::size_t m) { return sim(m, i); }));
  return counts.fullset();
}

/// The `k` best candidates by score, best first (torch.topk; ties by index).
template <class Score>
std::vector<std::size_t> top_candidates(std::size_t count, std::size_t k, Score&& score) {
  std::vector<std::size_t> idx(count);
  std::iota(idx.begin(), idx.end(), std::size_t{0});
  k = std::min(k, count);
  std::partial_sort(idx.begin(), idx.begin() + static_cast<std::ptrdiff_t>(k), idx.end(), [&](std::size_t a, std::size_t b) {
    const double sa = score(a), sb = score(b);
    return sa > sb || (sa == sb && a < b);
  });
  idx.resize(k);
  return idx;
}

/// Full-set retrieval with matching-head rerank (eval_retrieval_fullset_for_rerank): the top
/// `candidates` by sim, re-sorted by sim + g; `match` is called only for those (N·k·2 calls).
inline RetrievalScores retrieval_full_rerank(const ScoreMatrix& sim, const MatchScore& match, std::size_t candidates = 64) {
  MOLM_CHECK(sim.n > 0 && match, "retrieval", "empty score matrix or no match scores");
  MOLM_CHECK(candidates <= sim.n, "retrieval", "{} rerank candidates but only {} items (torch.topk fails too)",
             candidates, sim.n);
  auto reranked_rank = [&](std::size_t i, bool m2t) {
    auto s = [&](std::size_t c) { return m2t ? sim(i, c) : sim(c, i); };
    const auto top = top_candidates(sim.n, candidates, s);
    // Position among the re-sorted candidates (stable over the top-k order); k if i is not among them.
    std::size_t pos = top.size();
    for (std::size_t c = 0; c < top.size(); ++c)
      if (top[c] == i) pos = c;
    if (pos == top.size()) return top.size();
    auto r = [&](std::size_t c) { return s(top[c]) + (m2t ? match(i, top[c]) : match(top[c], i)); };
    return detail::rank_of(pos, top.size(), r);
  };
  detail::RankCounts counts;
  for (std::size_t i = 0; i < sim.n; ++i) counts.add(reranked_rank(i, true), reranked_rank(i, false));
  return counts.fullset();
}

}  // namespace molm::metrics
