// BLEU exactly as NLTK 3.8.1's nltk.translate.bleu_score.corpus_bleu without smoothing, the BLEU-2
// and BLEU-4 of 3D-MoLM (reference-model.md §7.2). Kept from NLTK, number for number:
//
// - clipped n-gram counts are summed over the corpus as integers (numerator) and the hypothesis
//   n-gram counts as max(1, count) per sentence (denominator); p_n = numerator / denominator;
// - brevity penalty from the summed hypothesis lengths and, per sentence, the reference length
//   closest to the hypothesis length (the shorter one on ties): 1 if hyp > ref, 0 if hyp is 0,
//   else exp(1 − ref/hyp);
// - no unigram match at all → 0. A zero count at a higher order is replaced by the smallest
//   normal double (SmoothingFunction().method0, which also warns) — so the score is not 0 but
//   about exp(w·log(2.2e-308)), e.g. ~1e-77 for BLEU-4 with no 4-gram match;
// - Σ w_n·log p_n is summed exactly (math.fsum), the weights zipped with the orders (a shorter
//   weight list uses fewer orders).
#pragma once

#include "molm/core/error.hpp"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace molm::metrics {

using Tokens = std::vector<std::string>;

namespace detail {
/// Python's math.fsum: the correctly rounded sum (Shewchuk's partials, CPython's final rounding).
inline double fsum(const std::vector<double>& values) {
  std::vector<double> partials;
  for (double x : values) {
    std::size_t i = 0;
    for (double y : partials) {
      if (std::abs(x) < std::abs(y)) std::swap(x, y);
      const double hi = x + y;
      const double lo = y - (hi - x);
      if (lo != 0.0) partials[i++] = lo;
      x = hi;
    }
    partials.resize(i);
    if (x != 0.0) partials.push_back(x);
  }
  if (partials.empty()) return 0.0;
  std::size_t n = partials.size();
  double hi = partials[--n];
  double lo = 0.0;
  while (n > 0) {
    const double x = hi;
    const double y = partials[--n];
    hi = x + y;
    const double yr = hi - x;
    lo = y - yr;
    if (lo != 0.0) break;
  }
  // Round half-even across the remaining partials, as CPython does.
  if (n > 0 && ((lo < 0.0 && partials[n - 1] < 0.0) || (lo > 0.0 && partials[n - 1] > 0.0))) {
    const double y = lo * 2.0;
    const double x = hi + y;
    if (y == x - hi) hi = x;
  }
  return hi;
}

/// Counts of the n-grams of `tokens` (none when shorter than n).
inline std::map<std::vector<std::string>, std::int64_t> ngram_counts(const Tokens& tokens, std::size_t n) {
  std::map<std::vector<std::string>, std::int64_t> counts;
  if (tokens.size() < n) return counts;
  for (std::size_t i = 0; i + n <= tokens.size(); ++i) ++counts[Tokens(tokens.begin() + i, tokens.begin() + i + n)];
  return counts;
}
}  // namespace detail

/// NLTK's modified_precision as (clipped matches, max(1, hypothesis n-grams)).
inline std::pair<std::int64_t, std::int64_t> bleu_modified_precision(const std::vector<Tokens>& references,
                                                                     const Tokens& hypothesis, std::size_t n) {
  const auto counts = detail::ngram_counts(hypothesis, n);
  std::map<std::vector<std::string>, std::int64_t> max_counts;
  for (const Tokens& reference : references) {
    const auto ref_counts = detail::ngram_counts(reference, n);
    for (const auto& [gram, c] : counts) {
      const auto it = ref_counts.find(gram);
      std::int64_t& m = max_counts[gram];
      m = std::max(m, it == ref_counts.end() ? std::int64_t{0} : it->second);
    }
  }
  std::int64_t numerator = 0, total = 0;
  for (const auto& [gram, c] : counts) {
    numerator += std::min(c, max_counts[gram]);
    total += c;
  }
  return {numerator, std::max<std::int64_t>(1, total)};
}

/// NLTK's closest_ref_length: the reference length nearest hyp_len, the smaller one on ties.
inline std::int64_t bleu_closest_ref_length(const std::vector<Tokens>& references, std::int64_t hyp_len) {
  MOLM_CHECK(!references.empty(), "bleu", "a hypothesis without references");
  std::int64_t best = static_cast<std::int64_t>(references.front().size());
  for (const Tokens& r : references) {
    const auto len = static_cast<std::int64_t>(r.size());
    const auto d = std::abs(len - hyp_len), bd = std::abs(best - hyp_len);
    if (d < bd || (d == bd && len < best)) best = len;
  }
  return best;
}

/// NLTK's brevity_penalty(closest_ref_len, hyp_len).
inline double bleu_brevity_penalty(std::int64_t closest_ref_len, std::int64_t hyp_len) {
  if (hyp_len > closest_ref_len) return 1.0;
  if (hyp_len == 0) return 0.0;
  return std::exp(1 - static_cast<double>(closest_ref_len) / static_cast<double>(hyp_len));
}

/// NLTK's corpus_bleu(list_of_references, hypotheses, weights) without smoothing (method0).
/// BLEU-2: weights {0.5, 0.5}; BLEU-4: {0.25, 0.25, 0.25, 0.25} (NLTK's default).
inline double corpus_bleu(const std::vector<std::vector<Tokens>>& list_of_references, const std::vector<Tokens>& hypotheses,
                          const std::vector<double>& weights = {0.25, 0.25, 0.25, 0.25}) {
  MOLM_CHECK(list_of_references.size() == hypotheses.size(), "bleu", "{} hypotheses but {} reference lists",
             hypotheses.size(), list_of_references.size());
  MOLM_CHECK(!hypotheses.empty(), "bleu", "an empty corpus (NLTK fails on a 0/0 precision too)");
  MOLM_CHECK(!weights.empty(), "bleu", "no weights");
  const std::size_t orders = weights.size();
  std::vector<std::int64_t> numerators(orders, 0), denominators(orders, 0);
  std::int64_t hyp_lengths = 0, ref_lengths = 0;
  for (std::size_t s = 0; s < hypotheses.size(); ++s) {
    for (std::size_t n = 1; n <= orders; ++n) {
      const auto [num, den] = bleu_modified_precision(list_of_references[s], hypotheses[s], n);
      numerators[n - 1] += num;
      denominators[n - 1] += den;
    }
    const auto hyp_len = static_cast<std::int64_t>(hypotheses[s].size());
    hyp_lengths += hyp_len;
    ref_lengths += bleu_closest_ref_length(list_of_references[s], hyp_len);
  }
  const double bp = bleu_brevity_penalty(ref_lengths, hyp_lengths);
  if (numerators[0] == 0) return 0.0;
  std::vector<double> terms;
  for (std::size_t n = 0; n < orders; ++n) {
    // Fraction → float is the correctly rounded quotient, as is int64 → double → divide below 2^53.
    const double p = numerators[n] != 0 ? static_cast<double>(numerators[n]) / static_cast<double>(denominators[n])
                                         : DBL_MIN;  // method0: sys.float_info.min
    terms.push_back(weights[n] * std::log(p));
  }
  return bp * std::exp(detail::fsum(terms));
}

/// NLTK's sentence_bleu(references, hypothesis, weights): corpus_bleu of one sentence.
inline double sentence_bleu(const std::vector<Tokens>& references, const Tokens& hypothesis,
                            const std::vector<double>& weights = {0.25, 0.25, 0.25, 0.25}) {
  return corpus_bleu({references}, {hypothesis}, weights);
}

}  // namespace molm::metrics
