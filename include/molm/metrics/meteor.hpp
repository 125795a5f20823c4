// METEOR exactly as NLTK 3.8.1's nltk.translate.meteor_score.meteor_score(references, hypothesis)
// with its defaults (preprocess str.lower, PorterStemmer(), WordNet, α 0.9, β 3, γ 0.5), the score
// 3D-MoLM reports per caption (reference-model.md §7.2). NLTK's particular alignment is kept:
//
// - three greedy stages, each over the words left unmatched by the previous one: exact, Porter
//   stem, WordNet synonym. Every stage walks the hypothesis from its LAST word backwards and pairs
//   it with the LAST still-unmatched reference word that matches — no search for fewest crossings;
// - the stem stage hands its STEMS on, so the synonym stage compares stems: a hypothesis stem's
//   synonyms are the lemma names (without "_") of wordnet.synsets(stem), plus the stem itself,
//   and a reference stem must be one of them;
// - chunks are counted over the matches sorted by hypothesis position: a new chunk starts
//   wherever the next match is not (i+1, j+1);
// - no match, or an empty hypothesis or reference, scores 0.
#pragma once

#include "molm/metrics/porter.hpp"
#include "molm/metrics/python_str.hpp"
#include "molm/metrics/wordnet.hpp"

#include <algorithm>
#include <cmath>
#include <string>
#include <unordered_set>
#include <utility>
#include <vector>

namespace molm::metrics {

struct MeteorOptions {
  double alpha = 0.9;
  double beta = 3.0;
  double gamma = 0.5;
};

namespace detail {
using EnumWords = std::vector<std::pair<int, std::string>>;  // (position, word) as NLTK enumerates
using WordPairs = std::vector<std::pair<int, int>>;          // (hypothesis position, reference position)

/// NLTK's _match_enums / _enum_wordnetsyn_match skeleton: `matches(h, r)` decides a pair.
template <class Matches>
WordPairs greedy_match(EnumWords& hyp, EnumWords& ref, Matches&& matches) {
  WordPairs out;
  for (std::size_t i = hyp.size(); i-- > 0;) {
    for (std::size_t j = ref.size(); j-- > 0;) {
      if (matches(i, ref[j].second)) {
        out.emplace_back(hyp[i].first, ref[j].first);
        hyp.erase(hyp.begin() + static_cast<std::ptrdiff_t>(i));
        ref.erase(ref.begin() + static_cast<std::ptrdiff_t>(j));
        break;
      }
    }
  }
  return out;
}
}  // namespace detail

/// NLTK's align_words: the matched (hypothesis, reference) positions, sorted by hypothesis position.
/// Words are compared after Python's str.lower().
inline std::vector<std::pair<int, int>> meteor_align(const std::vector<std::string>& reference,
                                                     const std::vector<std::string>& hypothesis,
                                                     const WordNet& wordnet = WordNet::shared()) {
  detail::EnumWords hyp, ref;
  for (std::size_t i = 0; i < hypothesis.size(); ++i) hyp.emplace_back(static_cast<int>(i), python_lower(hypothesis[i]));
  for (std::size_t j = 0; j < reference.size(); ++j) ref.emplace_back(static_cast<int>(j), python_lower(reference[j]));

  auto pairs = detail::greedy_match(hyp, ref, [&](std::size_t i, const std::string& r) { return hyp[i].second == r; });

  const PorterStemmer stemmer;
  for (auto& w : hyp) w.second = stemmer.stem(w.second);
  for (auto& w : ref) w.second = stemmer.stem(w.second);
  auto stem_pairs =
      detail::greedy_match(hyp, ref, [&](std::size_t i, const std::string& r) { return hyp[i].second == r; });

  // The synonym set of hyp[i] is built once per hypothesis word (NLTK builds it before its inner loop).
  std::size_t cached_for = static_cast<std::size_t>(-1);
  std::unordered_set<std::string> synonyms;
  auto synonym_pairs = detail::greedy_match(hyp, ref, [&](std::size_t i, const std::string& r) {
    if (cached_for != i) {
      synonyms.clear();
      for (std::string& name : wordnet.synset_lemma_names(hyp[i].second))
        if (name.find('_') == std::string::npos) synonyms.insert(std::move(name));
      synonyms.insert(hyp[i].second);
      cached_for = i;
    }
    return synonyms.count(r) > 0;
  });

  pairs.insert(pairs.end(), stem_pairs.begin(), stem_pairs.end());
  pairs.insert(pairs.end(), synonym_pairs.begin(), synonym_pairs.end());
  std::stable_sort(pairs.begin(), pairs.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  return pairs;
}

/// NLTK's _count_chunks.
inline int meteor_chunks(const std::vector<std::pair<int, int>>& matches) {
  int chunks = 1;
  for (std::size_t i = 0; i + 1 < matches.size(); ++i)
    if (!(matches[i + 1].first == matches[i].first + 1 && matches[i + 1].second == matches[i].second + 1)) ++chunks;
  return chunks;
}

/// NLTK's single_meteor_score(reference, hypothesis), operation for operation in double.
inline double single_meteor_score(const std::vector<std::string>& reference, const std::vector<std::string>& hypothesis,
                                  const WordNet& wordnet = WordNet::shared(), const MeteorOptions& o = {}) {
  const auto matches = meteor_align(reference, hypothesis, wordnet);
  const double m = static_cast<double>(matches.size());
  // NLTK divides and returns 0 on ZeroDivisionError: no words on either side, or no match.
  if (hypothesis.empty() || reference.empty() || matches.empty()) return 0.0;
  const double precision = m / static_cast<double>(hypothesis.size());
  const double recall = m / static_cast<double>(reference.size());
  const double fmean = (precision * recall) / (o.alpha * precision + (1 - o.alpha) * recall);
  const double frag_frac = static_cast<double>(meteor_chunks(matches)) / m;
  const double penalty = o.gamma * std::pow(frag_frac, o.beta);
  return (1 - penalty) * fmean;
}

/// NLTK's meteor_score(references, hypothesis): the best single_meteor_score over the references.
inline double meteor_score(const std::vector<std::vector<std::string>>& references,
                           const std::vector<std::string>& hypothesis, const WordNet& wordnet = WordNet::shared(),
                           const MeteorOptions& o = {}) {
  MOLM_CHECK(!references.empty(), "meteor", "no reference (NLTK's max() of an empty sequence fails too)");
  double best = -INFINITY;
  for (const auto& r : references) best = std::max(best, single_meteor_score(r, hypothesis, wordnet, o));
  return best;
}

}  // namespace molm::metrics
