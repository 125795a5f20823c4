// Text generation with a key/value cache, reproducing transformers 4.35's generate() for one prompt
// (reference-model.md §5.8, §6.6):
//
//   greedy   logits (f32) → processors → argmax; stops after EOS or at max_new_tokens
//   beam     log_softmax(logits) → processors → + beam score; the 2K best (beam, token) pairs;
//            an EOS among the K best ends a hypothesis scored sum_logprobs / length^length_penalty;
//            no early stopping: done when K hypotheses exist and the best running beam's score over
//            (length + 1)^length_penalty cannot beat the worst of them; at the end every running
//            beam is a hypothesis too, and the best hypothesis wins
//   sample   processors → temperature → top-k → top-p → softmax → one draw from a counter-based
//            generator (seed, step): the same tokens for a seed on any thread count
//
// Processors, as HF applies them: the repetition penalty (each distinct token of the history: a
// negative score × penalty, a positive one ÷ penalty; in beam search it acts on log-probabilities)
// and min_new_tokens (EOS gets −∞ until that many tokens are new).
//
// History and lengths follow HF, whose `input_ids` are the history the penalty sees and count in a
// hypothesis' length. From token ids, they are the prompt ids. From embeddings only (3D-MoLM's case:
// the soft prompt has no ids), transformers 4.35 starts input_ids as [bos_token_id]
// (_maybe_initialize_input_ids_for_generation): that BOS is penalised like a generated token and
// adds 1 to every beam length, though the model never sees it (generate_embeds does the same). The
// result is the new tokens, ending with EOS when the sequence stopped on it (HF's output with the
// prompt, or that BOS, removed).
// Padding in a batch of prompts does not change HF's result (positions come from the mask), so
// prompts are generated one at a time here.
#pragma once

#include "molm/core/random.hpp"
#include "molm/models/llama/model.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <numeric>
#include <optional>
#include <unordered_set>
#include <vector>

namespace molm::models::llama {

struct GenerationConfig {
  std::int64_t max_new_tokens = 128;
  std::int64_t min_new_tokens = 0;
  int num_beams = 1;
  double length_penalty = 1.0;      ///< beam search: score = sum_logprobs / length^length_penalty
  double repetition_penalty = 1.0;  ///< 1 = off
  bool do_sample = false;
  double temperature = 1.0;
  std::int64_t top_k = 50;  ///< HF's default; 0 = off
  double top_p = 1.0;       ///< 1 = off
  std::uint64_t seed = 0;
  std::optional<std::int64_t> eos_token_id;  ///< default: the model config's
  bool eos_enabled = true;  ///< false: no token ends generation (HF's eos_token_id=None)

  void validate() const {
    constexpr const char* op = "generate";
    MOLM_CHECK(max_new_tokens > 0 && min_new_tokens >= 0, op, "max_new_tokens {} must be > 0 and min_new_tokens {} >= 0",
               max_new_tokens, min_new_tokens);
    MOLM_CHECK(num_beams >= 1, op, "num_beams must be at least 1, got {}", num_beams);
    MOLM_CHECK(!(do_sample && num_beams > 1), op, "beam sampling is not supported: use num_beams 1 with do_sample");
    MOLM_CHECK(repetition_penalty > 0, op, "repetition_penalty must be positive, got {}", repetition_penalty);
    MOLM_CHECK(temperature > 0 && top_k >= 0 && top_p > 0 && top_p <= 1, op,
               "sampling needs temperature > 0, top_k >= 0 and top_p in (0, 1]; got {}, {}, {}", temperature, top_k,
               top_p);
  }

  /// §5.8, stage-2 captioning: 5 beams, 32–128 new tokens, length penalty 0.8, repetition penalty 1.2.
  static GenerationConfig reference_caption() {
    GenerationConfig g;
    g.num_beams = 5;
    g.max_new_tokens = 128;
    g.min_new_tokens = 32;
    g.length_penalty = 0.8;
    g.repetition_penalty = 1.2;
    return g;
  }
};

struct GenerationResult {
  std::vector<std::int64_t> tokens;  ///< the new tokens (ending with EOS when it stopped on EOS)
  bool stopped_on_eos = false;
  double score = std::numeric_limits<double>::quiet_NaN();  ///< beam search: the winner's score
  std::int64_t prompt_positions = 0;
  double prompt_seconds = 0;  ///< the prefill
  double decode_seconds = 0;  ///< every later forward
  std::int64_t decode_steps = 0;
  std::uint64_t kv_cache_bytes = 0;  ///< the key/value caches allocated (the prefill's, and the beams')
};

namespace detail {

using Clock = std::chrono::steady_clock;
inline double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

/// HF's RepetitionPenaltyLogitsProcessor on one row: each distinct token of `history` once.
inline void apply_repetition_penalty(std::vector<float>& scores, const std::vector<std::int64_t>& history,
                                     double penalty) {
  if (penalty == 1.0 || history.empty()) return;
  const float p = static_cast<float>(penalty);
  std::unordered_set<std::int64_t> seen;
  for (std::int64_t t : history) {
    if (!seen.insert(t).second) continue;
    float& s = scores[static_cast<std::size_t>(t)];
    s = s < 0 ? s * p : s / p;
  }
}

/// The last position's logits of a [B, 1, V] forward as f32 rows (HF 4.35 returns float logits).
inline std::vector<std::vector<float>> logit_rows(const Tensor& logits) {
  const Tensor l = logits.to(DType::f32).contiguous();
  const std::int64_t B = l.shape()[0], V = l.shape()[2];
  std::vector<std::vector<float>> rows(static_cast<std::size_t>(B));
  const float* p = l.data<float>() + (l.shape()[1] - 1) * V;
  for (std::int64_t b = 0; b < B; ++b) rows[b].assign(p + b * l.shape()[1] * V, p + b * l.shape()[1] * V + V);
  return rows;
}

/// log_softmax of one f32 row (max-shifted, the sum of exponentials in double, rounded to f32).
inline void log_softmax_row(std::vector<float>& row) {
  const float m = *std::max_element(row.begin(), row.end());
  double sum = 0;
  for (float v : row) sum += std::exp(static_cast<double>(v - m));
  const float lse = static_cast<float>(std::log(sum));
  for (float& v : row) v = (v - m) - lse;
}

/// First index of the largest value (torch.argmax on CPU).
inline std::int64_t argmax(const std::vector<float>& row) {
  return static_cast<std::int64_t>(std::max_element(row.begin(), row.end()) - row.begin());
}

/// HF's logits warpers then one draw: temperature, top-k, top-p (tokens whose cumulative probability
/// in ascending order is ≤ 1 − top_p are removed; the most likely always stays), softmax in double,
/// and the inverse CDF at a uniform from (seed, step).
inline std::int64_t sample_row(std::vector<float> scores, const GenerationConfig& g, std::uint64_t step) {
  const std::size_t V = scores.size();
  for (float& s : scores) s = static_cast<float>(s / g.temperature);
  std::vector<std::size_t> order(V);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return scores[a] > scores[b]; });
  std::size_t keep = V;
  if (g.top_k > 0) {
    keep = std::min<std::size_t>(keep, static_cast<std::size_t>(g.top_k));
    // HF keeps every token tied with the k-th score (scores < k-th value are removed).
    while (keep < V && scores[order[keep]] == scores[order[keep - 1]]) ++keep;
  }
  std::vector<double> prob(keep);
  const double m = scores[order[0]];
  double sum = 0;
  for (std::size_t i = 0; i < keep; ++i) sum += prob[i] = std::isinf(scores[order[i]]) ? 0.0 : std::exp(scores[order[i]] - m);
  for (double& p : prob) p /= sum;
  if (g.top_p < 1.0) {
    // Ascending cumulative sum; remove while it stays ≤ 1 − top_p.
    double cumulative = 0;
    std::size_t removed = 0;
    for (std::size_t i = keep; i-- > 1;) {
      cumulative += prob[i];
      if (cumulative > 1.0 - g.top_p) break;
      ++removed;
    }
    keep -= removed;
    prob.resize(keep);
    sum = std::accumulate(prob.begin(), prob.end(), 0.0);
    for (double& p : prob) p /= sum;
  }
  const double u = philox_uniform(g.seed, step, 0);
  double c = 0;
  for (std::size_t i = 0; i < keep; ++i) {
    c += prob[i];
    if (u < c) return static_cast<std::int64_t>(order[i]);
  }
  return static_cast<std::int64_t>(order[keep - 1]);
}

/// A finished hypothesis list of HF's BeamHypotheses (num_beams best, early_stopping False).
struct BeamHypotheses {
  int num_beams;
  double length_penalty;
  struct Hyp {
    double score;
    std::vector<std::int64_t> tokens;
  };
  std::vector<Hyp> beams;
  double worst_score = 1e9;

  void add(std::vector<std::int64_t> hyp, double sum_logprobs) {
    const double score = sum_logprobs / std::pow(static_cast<double>(hyp.size()), length_penalty);
    if (static_cast<int>(beams.size()) < num_beams || score > worst_score) {
      beams.push_back({score, std::move(hyp)});
      if (static_cast<int>(beams.size()) > num_beams) {
        // Python's sorted((s, idx)): by score, then by index.
        std::vector<std::size_t> idx(beams.size());
        std::iota(idx.begin(), idx.end(), 0);
        std::stable_sort(idx.begin(), idx.end(), [&](std::size_t a, std::size_t b) { return beams[a].score < beams[b].score; });
        worst_score = beams[idx[1]].score;
        beams.erase(beams.begin() + static_cast<std::ptrdiff_t>(idx[0]));
      } else {
        worst_score = std::min(score, worst_score);
      }
    }
  }
  bool is_done(double best_sum_logprobs, std::int64_t cur_len) const {
    if (static_cast<int>(beams.size()) < num_beams) return false;
    return worst_score >= best_sum_logprobs / std::pow(static_cast<double>(cur_len), length_penalty);
  }
};

}  // namespace detail

/// Generate from `prompt_embeds` [1, L, C] (or [L, C]). `history` is what HF holds as input_ids: the
/// prompt's ids when the embeddings are those of ids, [bos] for embeddings alone (generate_embeds);
/// it counts for the repetition penalty, min/max lengths and beam lengths.
inline GenerationResult generate(const CausalLM& lm, Tensor prompt_embeds, const std::vector<std::int64_t>& history,
                                 const GenerationConfig& g) {
  constexpr const char* op = "generate";
  g.validate();
  const Config& c = lm.config();
  if (prompt_embeds.dim() == 2) prompt_embeds = prompt_embeds.unsqueeze(0);
  MOLM_CHECK(prompt_embeds.dim() == 3 && prompt_embeds.shape()[0] == 1 && prompt_embeds.shape()[2] == c.hidden_size, op,
             "expects one prompt [1, L, {}], got {}", c.hidden_size, prompt_embeds.shape().str());
  const std::int64_t L = prompt_embeds.shape()[1];
  MOLM_CHECK(L > 0, op, "the prompt is empty");
  const std::int64_t capacity = L + g.max_new_tokens;
  MOLM_CHECK(capacity <= c.max_position_embeddings, op,
             "prompt ({}) + max_new_tokens ({}) exceeds the model's {} positions", L, g.max_new_tokens,
             c.max_position_embeddings);
  const std::int64_t eos = g.eos_enabled ? g.eos_token_id.value_or(c.eos_token_id) : -1;  // -1 matches no token
  const std::int64_t prompt_len = static_cast<std::int64_t>(history.size());  // HF's input_ids length
  const std::int64_t max_length = prompt_len + g.max_new_tokens;
  const int K = g.num_beams;
  no_grad guard;
  GenerationResult result;
  result.prompt_positions = L;

  // Prefill one row; beam search copies it into K rows.
  auto t0 = detail::Clock::now();
  KVCache single = KVCache::allocate(c, 1, capacity, lm.dtype());
  result.kv_cache_bytes = single.nbytes();
  ForwardOptions first;
  first.cache = &single;
  first.last_position_only = true;
  std::vector<std::vector<float>> logits = detail::logit_rows(lm.forward(prompt_embeds.to(lm.dtype()), first));
  result.prompt_seconds = detail::seconds_since(t0);
  t0 = detail::Clock::now();

  const auto processed = [&](std::vector<float> row, const std::vector<std::int64_t>& hist, bool log_probs) {
    if (log_probs) detail::log_softmax_row(row);
    detail::apply_repetition_penalty(row, hist, g.repetition_penalty);
    if (eos >= 0 && static_cast<std::int64_t>(hist.size()) - prompt_len < g.min_new_tokens)
      row[static_cast<std::size_t>(eos)] = -std::numeric_limits<float>::infinity();
    return row;
  };
  const auto step_forward = [&](KVCache& cache, const std::vector<std::int64_t>& tokens) {
    Tensor ids = Tensor::empty({static_cast<std::int64_t>(tokens.size()), 1}, DType::i64);
    std::copy(tokens.begin(), tokens.end(), ids.data<std::int64_t>());
    ForwardOptions o;
    o.cache = &cache;
    ++result.decode_steps;
    return detail::logit_rows(lm.forward_ids(ids, o));
  };

  if (K == 1) {
    std::vector<std::int64_t> hist = history;
    for (std::uint64_t step = 0;; ++step) {
      std::vector<float> row = processed(std::move(logits[0]), hist, false);
      const std::int64_t next = g.do_sample ? detail::sample_row(std::move(row), g, step) : detail::argmax(row);
      hist.push_back(next);
      result.tokens.push_back(next);
      if (next == eos) {
        result.stopped_on_eos = true;
        break;
      }
      if (static_cast<std::int64_t>(hist.size()) >= max_length) break;
      logits = step_forward(single, {next});
    }
    result.decode_seconds = detail::seconds_since(t0);
    return result;
  }

  KVCache cache = KVCache::allocate(c, K, capacity, lm.dtype());
  result.kv_cache_bytes += cache.nbytes();
  for (std::size_t l = 0; l < cache.keys.size(); ++l) {
    cache.keys[l].narrow(2, 0, L).copy_(single.keys[l].narrow(2, 0, L));
    cache.values[l].narrow(2, 0, L).copy_(single.values[l].narrow(2, 0, L));
  }
  cache.length = L;
  logits.assign(static_cast<std::size_t>(K), logits[0]);
  std::vector<float> beam_scores(static_cast<std::size_t>(K), -1e9f);
  beam_scores[0] = 0.0f;
  std::vector<std::vector<std::int64_t>> hists(static_cast<std::size_t>(K), history);
  detail::BeamHypotheses hyps{K, g.length_penalty, {}, 1e9};
  bool done = false;
  const std::int64_t V = c.vocab_size;
  struct Candidate {
    float score;
    std::int64_t flat;  // beam · V + token
  };
  while (true) {
    std::vector<Candidate> all;
    all.reserve(static_cast<std::size_t>(K * V));
    for (int k = 0; k < K; ++k) {
      const std::vector<float> row = processed(std::move(logits[k]), hists[k], true);
      for (std::int64_t v = 0; v < V; ++v) all.push_back({row[v] + beam_scores[k], k * V + v});
    }
    // torch.topk(2K, sorted): the 2K largest in descending order (ties: the lower flat index first).
    const std::size_t top = static_cast<std::size_t>(2 * K);
    std::partial_sort(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(top), all.end(),
                      [](const Candidate& a, const Candidate& b) { return a.score > b.score || (a.score == b.score && a.flat < b.flat); });
    const std::int64_t cur_len = static_cast<std::int64_t>(hists[0].size()) + 1;
    std::vector<float> next_scores;
    std::vector<std::int64_t> next_tokens, next_beams;
    for (std::size_t rank = 0; rank < top && static_cast<int>(next_tokens.size()) < K; ++rank) {
      const std::int64_t beam = all[rank].flat / V, token = all[rank].flat % V;
      if (token == eos) {
        if (rank >= static_cast<std::size_t>(K)) continue;
        hyps.add(hists[beam], all[rank].score);
      } else {
        next_scores.push_back(all[rank].score);
        next_tokens.push_back(token);
        next_beams.push_back(beam);
      }
    }
    MOLM_CHECK(static_cast<int>(next_tokens.size()) == K, op, "beam search found fewer than {} continuations", K);
    done = done || hyps.is_done(all[0].score, cur_len);
    std::vector<std::vector<std::int64_t>> new_hists;
    for (int k = 0; k < K; ++k) {
      new_hists.push_back(hists[next_beams[k]]);
      new_hists.back().push_back(next_tokens[k]);
    }
    hists = std::move(new_hists);
    beam_scores = next_scores;
    if (done || static_cast<std::int64_t>(hists[0].size()) >= max_length) break;
    cache.reorder(next_beams);
    logits = step_forward(cache, next_tokens);
  }
  if (!done)
    for (int k = 0; k < K; ++k) hyps.add(hists[k], beam_scores[k]);
  // sorted(beams, key=score).pop(): the highest score, the last added among equals.
  std::size_t best = 0;
  for (std::size_t i = 1; i < hyps.beams.size(); ++i)
    if (hyps.beams[i].score >= hyps.beams[best].score) best = i;
  const auto& winner = hyps.beams[best];
  result.tokens.assign(winner.tokens.begin() + prompt_len, winner.tokens.end());
  result.stopped_on_eos = static_cast<std::int64_t>(winner.tokens.size()) < max_length;
  if (result.stopped_on_eos) result.tokens.push_back(eos);
  result.score = static_cast<float>(winner.score);  // HF returns the score as float32
  result.decode_seconds = detail::seconds_since(t0);
  return result;
}

/// Generate from embeddings alone (HF's inputs_embeds, 3D-MoLM's soft prompts): the history is
/// [bos_token_id] of the model config, as transformers 4.35 starts it.
inline GenerationResult generate_embeds(const CausalLM& lm, const Tensor& prompt_embeds, const GenerationConfig& g) {
  return generate(lm, prompt_embeds, {lm.config().bos_token_id}, g);
}

/// Generate from token ids (HF's input_ids): the ids are the history.
inline GenerationResult generate_ids(const CausalLM& lm, const std::vector<std::int64_t>& prompt_ids,
                                     const GenerationConfig& g) {
  MOLM_CHECK(!prompt_ids.empty(), "generate", "the prompt is empty");
  Tensor ids = Tensor::empty({1, static_cast<std::int64_t>(prompt_ids.size())}, DType::i64);
  for (std::size_t i = 0; i < prompt_ids.size(); ++i) {
    MOLM_CHECK(prompt_ids[i] >= 0 && prompt_ids[i] < lm.config().vocab_size, "generate",
               "prompt id {} at {} is outside the vocabulary of {}", prompt_ids[i], i, lm.config().vocab_size);
    ids.data<std::int64_t>()[i] = prompt_ids[i];
  }
  no_grad guard;
  return generate(lm, lm.embed(ids), prompt_ids, g);
}

}  // namespace molm::models::llama
