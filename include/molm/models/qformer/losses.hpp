// The model-free parts of the stage-1 objectives (reference-model.md §4.1–4.2): the contrastive
// loss over gathered features and the hard-negative sampling of the matching loss.
//
// Similarity of molecule b and text c: s(b, c) = max over the Nq queries of <z[b,q], t[c]>, with z and
// t L2-normalised; logits s / τ (τ fixed, 0.1).
#pragma once

#include "molm/core/random.hpp"
#include "molm/ops/linalg.hpp"
#include "molm/ops/loss.hpp"
#include "molm/ops/reduce.hpp"
#include "molm/ops/softmax.hpp"

#include <functional>

namespace molm::models::qformer {

/// Every rank's normalised features in rank order, as all_gather returns them: WITHOUT gradient
/// (the reference's pl_concat_all_gather runs under no_grad), the local slice included.
struct GatheredFeatures {
  Tensor graph;             ///< [B·W, Nq, E]
  Tensor text;              ///< [B·W, E]
  std::int64_t offset = 0;  ///< rank · B: where this rank's samples start
};

/// Gathers the local features across ranks. The default (one process) returns detached copies of
/// the local features at offset 0 — what the reference computes under torch.distributed with one
/// device. A data-parallel trainer plugs in its all_gather here.
using FeatureGather = std::function<GatheredFeatures(const Tensor& graph, const Tensor& text)>;

inline GatheredFeatures gather_local(const Tensor& graph, const Tensor& text) {
  return {graph.detach(), text.detach(), 0};
}

struct ContrastiveOutput {
  Tensor loss;     ///< (L_m2t + L_t2m) / 2
  Tensor sim_g2t;  ///< [B, B] local logits s/τ, molecule rows (detached; for negative sampling)
  Tensor sim_t2g;  ///< [B, B] local logits s/τ, text rows (detached)
};

/// GTC (3D-MoLM's contrast_global). graph [B, Nq, E] and text [B, E] are this rank's normalised
/// features; `all` holds every rank's. Molecule→text logits read the gathered texts and carry the
/// gradient into `graph` only; text→molecule logits read the gathered molecules and carry it into
/// `text` only. Targets: offset + b.
inline ContrastiveOutput contrastive_loss(const Tensor& graph, const Tensor& text, const GatheredFeatures& all,
                                          double temperature) {
  constexpr const char* op = "qformer::contrastive_loss";
  MOLM_CHECK(graph.dim() == 3 && text.dim() == 2 && graph.shape()[0] == text.shape()[0] &&
                 graph.shape()[2] == text.shape()[1],
             op, "expects graph features [B, Nq, E] and text features [B, E], got {} and {}", graph.shape().str(),
             text.shape().str());
  const std::int64_t B = graph.shape()[0], Nq = graph.shape()[1], E = graph.shape()[2];
  const std::int64_t BW = all.text.shape()[0];
  MOLM_CHECK(all.graph.dim() == 3 && all.graph.shape()[0] == BW && all.graph.shape()[1] == Nq &&
                 all.offset >= 0 && all.offset + B <= BW,
             op, "gathered features graph {} / text {} with offset {} do not hold this rank's {} samples",
             all.graph.shape().str(), all.text.shape().str(), all.offset, B);
  // [B, Nq, E]·[E, BW] → [B, Nq, BW], max over queries → [B, BW]
  const Tensor g2t = max(matmul(graph, all.text.transpose(0, 1)), 1).first / temperature;
  // [BW·Nq, E]·[E, B] → [BW, Nq, B], max over queries → [BW, B] → [B, BW]
  const Tensor t2g =
      max(matmul(all.graph.reshape({BW * Nq, E}), text.transpose(0, 1)).reshape({BW, Nq, B}), 1).first.transpose(0, 1) /
      temperature;
  const Tensor targets = arange(all.offset, all.offset + B, 1, DType::i64);
  ContrastiveOutput out;
  out.loss = (cross_entropy(g2t, targets) + cross_entropy(t2g, targets)) * 0.5;
  out.sim_g2t = g2t.narrow(1, all.offset, B).detach();
  out.sim_t2g = t2g.narrow(1, all.offset, B).detach();
  return out;
}

/// Sampling weights of the hard negatives (§4.2): softmax over each row of local logits + 1e-4,
/// diagonal 0. [B, B] in double.
inline Tensor negative_weights(const Tensor& sim) {
  MOLM_CHECK(sim.dim() == 2 && sim.shape()[0] == sim.shape()[1], "qformer::negative_weights",
             "expects square local logits [B, B], got {}", sim.shape().str());
  Tensor w = (softmax(sim.detach().to(DType::f64)) + 1e-4).contiguous();
  const std::int64_t B = sim.shape()[0];
  for (std::int64_t i = 0; i < B; ++i) w.data<double>()[i * B + i] = 0.0;
  return w;
}

/// One index per row, drawn with probability proportional to the row's weights (torch.multinomial
/// with one sample). Deterministic given the generator's state.
inline Tensor sample_rows(const Tensor& weights, Generator& gen) {
  const Tensor w = weights.to(DType::f64).contiguous();
  const std::int64_t R = w.shape()[0], C = w.shape()[1];
  Tensor out = Tensor::empty({R}, DType::i64);
  const std::uint64_t offset = gen.next_offset();
  for (std::int64_t r = 0; r < R; ++r) {
    const double* row = w.data<double>() + r * C;
    double total = 0;
    for (std::int64_t c = 0; c < C; ++c) total += row[c];
    MOLM_CHECK(total > 0, "qformer::sample_rows", "row {} of the sampling weights sums to {}", r, total);
    const double u = static_cast<double>(philox_uniform(gen.seed(), offset, static_cast<std::uint64_t>(r))) * total;
    std::int64_t pick = -1;
    double run = 0;
    for (std::int64_t c = 0; c < C; ++c) {
      if (row[c] <= 0) continue;
      pick = c;  // the last positive column catches rounding at the top end
      run += row[c];
      if (u < run) break;
    }
    out.data<std::int64_t>()[r] = pick;
  }
  return out;
}

/// The matching loss's negatives: for each text a molecule, for each molecule a text.
struct HardNegatives {
  Tensor graph_for_text;  ///< i64 [B]
  Tensor text_for_graph;  ///< i64 [B]
};

inline HardNegatives sample_hard_negatives(const ContrastiveOutput& c, Generator& gen) {
  return {sample_rows(negative_weights(c.sim_t2g), gen), sample_rows(negative_weights(c.sim_g2t), gen)};
}

}  // namespace molm::models::qformer
