// Stage-1 molecule–text retrieval (reference-model.md §7.1): molecules and texts encoded into the
// contrastive space, the similarity s(m, t) = max over queries of <z_q, t>, and the matching head's
// positive logit g(m, t) for reranking by s + g (the reference's "fixme": raw logit, no softmax).
//
//   auto mols = qformer::encode_molecule_batch(model, unimol_out.atoms, unimol_out.padding);  // per Uni-Mol batch
//   auto txts = qformer::encode_text_batch(model, ids, mask);
//   Tensor s = qformer::similarity(mols.features, txts.features);          // [M, T], f64
//   auto g = qformer::match_logits(model, mols, 3, txts, {0, 5, 9});        // g(3, 0), g(3, 5), g(3, 9)
//   auto top = qformer::top_k(s, 5);                                        // per molecule: best texts
//   auto report = qformer::evaluate_retrieval(model, mols, txts);           // pair i = (molecule i, text i)
//
// Molecules are encoded per Uni-Mol batch, as the reference evaluates (batches of 64): the
// cross-attention quirk makes a molecule's features depend on its batch (§3.4), so the rows, the
// batch's mask (or its absence) and the batch's row count N travel with each molecule for
// matching. The numbers of the reference's eight variants come from metrics/retrieval.hpp.
#pragma once

#include "molm/metrics/retrieval.hpp"
#include "molm/models/qformer/stage1.hpp"

#include <algorithm>
#include <map>
#include <numeric>
#include <set>
#include <unordered_map>
#include <vector>

namespace molm::models::qformer {

/// Encoded molecules, in order; `append` concatenates several Uni-Mol batches.
struct EncodedMolecules {
  Tensor features;              ///< [M, Nq, E], normalised
  std::vector<Tensor> rows;     ///< per molecule: ln_graph(rows) [N of its batch, W]
  std::vector<Tensor> padding;  ///< per molecule: bool [N] or undefined (its batch had no padding)

  std::int64_t size() const { return static_cast<std::int64_t>(rows.size()); }
  void append(const EncodedMolecules& more) {
    features = features.defined() ? cat({features, more.features}, 0) : more.features;
    rows.insert(rows.end(), more.rows.begin(), more.rows.end());
    padding.insert(padding.end(), more.padding.begin(), more.padding.end());
  }
};

/// Encoded texts, in order.
struct EncodedTexts {
  Tensor features;  ///< [T, E], normalised
  Tensor ids;       ///< i64 [T, L]
  Tensor mask;      ///< i64 [T, L]
  std::int64_t size() const { return features.defined() ? features.shape()[0] : 0; }
  void append(const EncodedTexts& more) {
    if (!features.defined()) {
      *this = more;
      return;
    }
    const std::int64_t L = std::max(ids.shape()[1], more.ids.shape()[1]);
    const auto widen = [&](const Tensor& t) {
      return t.shape()[1] == L ? t : cat({t, zeros({t.shape()[0], L - t.shape()[1]}, t.dtype())}, 1);
    };
    features = cat({features, more.features}, 0);
    ids = cat({widen(ids), widen(more.ids)}, 0);
    mask = cat({widen(mask), widen(more.mask)}, 0);
  }
};

/// One Uni-Mol batch: atoms [B, N, W] and Uni-Mol's padding mask (the reference's rule for an
/// absent mask applied here).
inline EncodedMolecules encode_molecule_batch(const Stage1& model, const Tensor& atoms, const Tensor& padding) {
  no_grad guard;
  const MoleculeFeatures f = model.encode_molecules(MoleculeBatch::from_unimol(atoms, padding), false);
  EncodedMolecules out;
  out.features = f.features;
  for (std::int64_t b = 0; b < atoms.shape()[0]; ++b) {
    out.rows.push_back(f.molecule.select(0, b));
    out.padding.push_back(f.padding.defined() ? f.padding.select(0, b) : Tensor());
  }
  return out;
}

inline EncodedTexts encode_text_batch(const Stage1& model, const Tensor& ids, const Tensor& mask) {
  no_grad guard;
  return {model.encode_texts({ids, mask}).features, ids.to(DType::i64), mask.to(DType::i64)};
}

/// s(m, t) = max over queries of <z[m, q], t[t]>: [M, T] in f64.
inline Tensor similarity(const Tensor& graph, const Tensor& text) {
  MOLM_CHECK(graph.dim() == 3 && text.dim() == 2 && graph.shape()[2] == text.shape()[1], "qformer::similarity",
             "expects molecule features [M, Nq, E] and text features [T, E], got {} and {}", graph.shape().str(),
             text.shape().str());
  no_grad guard;
  return max(matmul(graph, text.transpose(0, 1)), 1).first.to(DType::f64).contiguous();
}

/// g(m, t) for molecule m and each text in `texts`: the positive-class logit of the matching head
/// (pass (c) on the pairs, the molecule with its own batch's rows and mask). f64 [K].
inline Tensor match_logits(const Stage1& model, const EncodedMolecules& mols, std::int64_t m, const EncodedTexts& txts,
                           const std::vector<std::int64_t>& texts) {
  no_grad guard;
  const auto K = static_cast<std::int64_t>(texts.size());
  if (K == 0) return zeros({0}, DType::f64);
  Tensor index = Tensor::empty({K}, DType::i64);
  std::copy(texts.begin(), texts.end(), index.data<std::int64_t>());
  const Tensor& rows = mols.rows.at(static_cast<std::size_t>(m));
  const Tensor& pad = mols.padding.at(static_cast<std::size_t>(m));
  const Shape r = rows.shape();
  const Tensor mol = rows.unsqueeze(0).expand({K, r[0], r[1]});
  const Tensor padding = pad.defined() ? pad.unsqueeze(0).expand({K, r[0]}) : Tensor();
  const TextBatch pairs{index_select(txts.ids, 0, index), index_select(txts.mask, 0, index)};
  return model.match_logits(pairs, mol, padding).select(1, 1).to(DType::f64).contiguous();
}

/// g(m, t) for text t and each molecule in `molecules` (grouped by their batch's row count).
inline Tensor match_logits_for_text(const Stage1& model, const EncodedMolecules& mols, const std::vector<std::int64_t>& molecules,
                                    const EncodedTexts& txts, std::int64_t t) {
  no_grad guard;
  Tensor out = Tensor::empty({static_cast<std::int64_t>(molecules.size())}, DType::f64);
  // One pass per group of molecules whose batches had the same row count and the same mask state
  // (present or absent: stacking an absent mask with present ones would change its meaning).
  std::map<std::pair<std::int64_t, bool>, std::vector<std::size_t>> groups;
  for (std::size_t i = 0; i < molecules.size(); ++i) {
    const auto m = static_cast<std::size_t>(molecules[i]);
    groups[{mols.rows.at(m).shape()[0], mols.padding.at(m).defined()}].push_back(i);
  }
  for (const auto& [key, members] : groups) {
    std::vector<Tensor> rows, padding;
    for (std::size_t i : members) {
      const auto m = static_cast<std::size_t>(molecules[i]);
      rows.push_back(mols.rows[m].unsqueeze(0));
      if (key.second) padding.push_back(mols.padding[m].unsqueeze(0));
    }
    const auto K = static_cast<std::int64_t>(members.size());
    const Tensor ids = txts.ids.narrow(0, t, 1).expand({K, txts.ids.shape()[1]});
    const Tensor mask = txts.mask.narrow(0, t, 1).expand({K, txts.mask.shape()[1]});
    const Tensor g = model.match_logits({ids, mask}, cat(rows, 0), key.second ? cat(padding, 0) : Tensor())
                         .select(1, 1).to(DType::f64).contiguous();
    for (std::size_t k = 0; k < members.size(); ++k) out.data<double>()[members[k]] = g.data<double>()[k];
  }
  return out;
}

struct Hit {
  std::int64_t index = 0;  ///< the candidate (text for a molecule's row, molecule for a text's)
  double score = 0;        ///< what it was ranked by: sim, or sim + match after reranking
  double sim = 0;
  double match = 0;        ///< g, when reranked
  bool reranked = false;
};

/// The k best candidates of each row of `scores` [R, C], best first; ties keep index order.
inline std::vector<std::vector<Hit>> top_k(const Tensor& scores, std::int64_t k) {
  const Tensor s = scores.to(DType::f64).contiguous();
  const std::int64_t R = s.shape()[0], C = s.shape()[1];
  std::vector<std::vector<Hit>> out(static_cast<std::size_t>(R));
  std::vector<std::int64_t> order(static_cast<std::size_t>(C));
  for (std::int64_t r = 0; r < R; ++r) {
    const double* row = s.data<double>() + r * C;
    std::iota(order.begin(), order.end(), 0);
    const std::int64_t n = std::min(k, C);
    std::partial_sort(order.begin(), order.begin() + n, order.end(), [&](std::int64_t a, std::int64_t b) {
      return row[a] > row[b] || (row[a] == row[b] && a < b);
    });
    for (std::int64_t i = 0; i < n; ++i) out[static_cast<std::size_t>(r)].push_back({order[i], row[order[i]], row[order[i]]});
  }
  return out;
}

/// Rerank each row's hits by sim + g (the reference's full-set rerank keeps the top 64 by sim and
/// re-sorts them); `g(row, candidates)` returns the match logits. Stable: ties keep sim order.
template <class MatchFn>
void rerank(std::vector<std::vector<Hit>>& hits, MatchFn&& g) {
  for (std::size_t r = 0; r < hits.size(); ++r) {
    std::vector<std::int64_t> candidates;
    for (const Hit& h : hits[r]) candidates.push_back(h.index);
    const Tensor m = g(static_cast<std::int64_t>(r), candidates);
    for (std::size_t i = 0; i < hits[r].size(); ++i) {
      hits[r][i].match = m.data<double>()[i];
      hits[r][i].score = hits[r][i].sim + hits[r][i].match;
      hits[r][i].reranked = true;
    }
    std::stable_sort(hits[r].begin(), hits[r].end(), [](const Hit& a, const Hit& b) { return a.score > b.score; });
  }
}

/// The reference's eight retrieval numbers (§7.1): in-batch and full set, each plain and reranked.
struct RetrievalReport {
  std::size_t n = 0;
  metrics::RetrievalScores inbatch, inbatch_rerank, full, full_rerank;
};

/// Evaluate stage-1 retrieval with molecule i paired to text i, in the reference's conventions
/// (metrics/retrieval.hpp): in-batch groups of `batch`, full-set rerank of the top `candidates`
/// (fewer when there are fewer items, where the reference would fail). The matching logits are
/// computed only for the pairs the reranks read (each molecule's in-batch group and top candidates,
/// each text's top candidates), one batched pass per molecule.
inline RetrievalReport evaluate_retrieval(const Stage1& model, const EncodedMolecules& mols, const EncodedTexts& txts,
                                          std::size_t batch = 64, std::size_t candidates = 64) {
  const auto n = static_cast<std::size_t>(mols.size());
  MOLM_CHECK(n > 0 && static_cast<std::size_t>(txts.size()) == n, "qformer::evaluate_retrieval",
             "needs one text per molecule: {} molecules, {} texts", n, txts.size());
  MOLM_CHECK(batch >= 1 && candidates >= 1, "qformer::evaluate_retrieval", "batch and candidates must be >= 1");
  const std::size_t k = std::min(candidates, n);
  const Tensor sim = similarity(mols.features, txts.features);
  const auto texts_of = top_k(sim, static_cast<std::int64_t>(k));                           // per molecule
  const auto molecules_of = top_k(sim.transpose(0, 1).contiguous(), static_cast<std::int64_t>(k));  // per text
  std::vector<std::set<std::int64_t>> needed(n);
  for (std::size_t m = 0; m < n; ++m) {
    const std::size_t first = m / batch * batch, last = std::min(n, first + batch);
    for (std::size_t t = first; t < last; ++t) needed[m].insert(static_cast<std::int64_t>(t));
    for (const Hit& h : texts_of[m]) needed[m].insert(h.index);
  }
  for (std::size_t t = 0; t < n; ++t)
    for (const Hit& h : molecules_of[t]) needed[static_cast<std::size_t>(h.index)].insert(static_cast<std::int64_t>(t));
  std::vector<std::unordered_map<std::int64_t, double>> g(n);
  for (std::size_t m = 0; m < n; ++m) {
    const std::vector<std::int64_t> texts(needed[m].begin(), needed[m].end());
    const Tensor row = match_logits(model, mols, static_cast<std::int64_t>(m), txts, texts);
    for (std::size_t i = 0; i < texts.size(); ++i) g[m][texts[i]] = row.data<double>()[i];
  }
  const metrics::MatchScore match = [&](std::size_t m, std::size_t t) {
    const auto it = g[m].find(static_cast<std::int64_t>(t));
    MOLM_CHECK(it != g[m].end(), "qformer::evaluate_retrieval", "no matching logit for molecule {} and text {}", m, t);
    return it->second;
  };
  const metrics::ScoreMatrix sm{sim.data<double>(), n};
  RetrievalReport r;
  r.n = n;
  r.inbatch = metrics::retrieval_inbatch(sm, batch);
  r.inbatch_rerank = metrics::retrieval_inbatch(sm, batch, match);
  r.full = metrics::retrieval_full(sm);
  r.full_rerank = metrics::retrieval_full_rerank(sm, match, k);
  return r;
}

}  // namespace molm::models::qformer
