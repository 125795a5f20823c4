// ROUGE-N and ROUGE-L exactly as Google's rouge-score 0.1.2 RougeScorer(use_stemmer=False) on raw
// strings, the ROUGE-1/2/L of 3D-MoLM (reference-model.md §7.2). Its tokenizer: Python's
// str.lower(), every run of characters other than ASCII [a-z0-9] becomes a separator, empty pieces
// are dropped — so all non-ASCII text vanishes, except the two characters whose lower case is
// ASCII: U+0130 (İ → "i" + a combining dot, which separates) and U+212A (Kelvin sign → "k").
// ROUGE-L is the sentence-level LCS ("rougeL"), not the summary-level "rougeLsum".
#pragma once

#include "molm/metrics/python_str.hpp"

#include <algorithm>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace molm::metrics {

struct RougeScore {
  double precision = 0, recall = 0, fmeasure = 0;
};

/// rouge_score.tokenize.tokenize(text, stemmer=None).
inline std::vector<std::string> rouge_tokenize(std::string_view text) {
  const std::string lower = python_lower(text);  // multi-byte UTF-8 stays non-ASCII, hence separators
  std::vector<std::string> tokens;
  std::string token;
  for (char c : lower) {
    if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) {
      token.push_back(c);
    } else if (!token.empty()) {
      tokens.push_back(std::move(token));
      token.clear();
    }
  }
  if (!token.empty()) tokens.push_back(std::move(token));
  return tokens;
}

namespace detail {
/// rouge_score.scoring.fmeasure.
inline double rouge_fmeasure(double precision, double recall) {
  return precision + recall > 0 ? 2 * precision * recall / (precision + recall) : 0.0;
}
}  // namespace detail

/// ROUGE-N ("rouge1", "rouge2", ...) of token lists: clipped n-gram overlap over max(1, count).
inline RougeScore rouge_n(const std::vector<std::string>& target, const std::vector<std::string>& prediction,
                          std::size_t n) {
  auto grams = [n](const std::vector<std::string>& t) {
    std::map<std::vector<std::string>, std::int64_t> counts;
    for (std::size_t i = 0; i + n <= t.size(); ++i) ++counts[std::vector<std::string>(t.begin() + i, t.begin() + i + n)];
    return counts;
  };
  const auto tg = grams(target), pg = grams(prediction);
  std::int64_t overlap = 0, target_count = 0, prediction_count = 0;
  for (const auto& [g, c] : tg) {
    target_count += c;
    if (auto it = pg.find(g); it != pg.end()) overlap += std::min(c, it->second);
  }
  for (const auto& [g, c] : pg) prediction_count += c;
  RougeScore s;
  s.precision = static_cast<double>(overlap) / static_cast<double>(std::max<std::int64_t>(prediction_count, 1));
  s.recall = static_cast<double>(overlap) / static_cast<double>(std::max<std::int64_t>(target_count, 1));
  s.fmeasure = detail::rouge_fmeasure(s.precision, s.recall);
  return s;
}

/// The length of the longest common subsequence of two token lists.
inline std::size_t lcs_length(const std::vector<std::string>& a, const std::vector<std::string>& b) {
  std::vector<std::size_t> prev(b.size() + 1, 0), row(b.size() + 1, 0);
  for (std::size_t i = 1; i <= a.size(); ++i) {
    for (std::size_t j = 1; j <= b.size(); ++j)
      row[j] = a[i - 1] == b[j - 1] ? prev[j - 1] + 1 : std::max(prev[j], row[j - 1]);
    std::swap(prev, row);
  }
  return prev[b.size()];
}

/// ROUGE-L ("rougeL") of token lists; 0 when either side is empty.
inline RougeScore rouge_l(const std::vector<std::string>& target, const std::vector<std::string>& prediction) {
  if (target.empty() || prediction.empty()) return {};
  const double lcs = static_cast<double>(lcs_length(target, prediction));
  RougeScore s;
  s.precision = lcs / static_cast<double>(prediction.size());
  s.recall = lcs / static_cast<double>(target.size());
  s.fmeasure = detail::rouge_fmeasure(s.precision, s.recall);
  return s;
}

struct RougeScores {
  RougeScore rouge1, rouge2, rougeL;
};

/// RougeScorer(["rouge1", "rouge2", "rougeL"]).score(target, prediction) on raw strings.
/// (3D-MoLM passes the prediction as target; F-measure is symmetric, precision and recall swap.)
inline RougeScores rouge_scores(std::string_view target, std::string_view prediction) {
  const auto t = rouge_tokenize(target), p = rouge_tokenize(prediction);
  return {rouge_n(t, p, 1), rouge_n(t, p, 2), rouge_l(t, p)};
}

}  // namespace molm::metrics
