// The six caption numbers of 3D-MoLM's caption_evaluate (model/help_funcs.py; reference-model.md
// §7.2), ×100 as the paper prints them: corpus BLEU-2/4 over all pairs, and the means of per-pair
// METEOR and ROUGE-1/2/L F-measures. Tokens for BLEU/METEOR come from a tokenizer chosen by the
// caller (SciBERT WordPiece for stage-2 captioning, Llama pieces for the generalist, or Python's
// str.split()), with the strings "[PAD]", "[CLS]", "[SEP]" removed as the reference does; ROUGE
// tokenizes the raw strings itself. (The reference passes truncation=True, max_length=… to
// tokenize(), which transformers 4.35 ignores with a warning: token lists are never truncated.)
// Means are numpy's (pairwise summation), so the numbers are the reference's to the last bit.
#pragma once

#include "molm/metrics/bleu.hpp"
#include "molm/metrics/meteor.hpp"
#include "molm/metrics/python_str.hpp"
#include "molm/metrics/rouge.hpp"

#include <algorithm>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace molm::metrics {

/// np.mean of a float64 vector: pairwise sums over blocks of 8192 (numpy's buffer), added in order.
inline double numpy_mean(const std::vector<double>& v) {
  struct Pairwise {
    static double sum(const double* a, std::size_t n) {
      if (n < 8) {
        double res = 0.0;
        for (std::size_t i = 0; i < n; ++i) res += a[i];
        return res;
      }
      if (n <= 128) {
        double r[8];
        for (int j = 0; j < 8; ++j) r[j] = a[j];
        std::size_t i = 8;
        for (; i < n - n % 8; i += 8)
          for (int j = 0; j < 8; ++j) r[j] += a[i + j];
        double res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for (; i < n; ++i) res += a[i];
        return res;
      }
      std::size_t n2 = n / 2;
      n2 -= n2 % 8;
      return sum(a, n2) + sum(a + n2, n - n2);
    }
  };
  double total = 0.0;
  for (std::size_t i = 0; i < v.size(); i += 8192) total += Pairwise::sum(v.data() + i, std::min<std::size_t>(8192, v.size() - i));
  return total / static_cast<double>(v.size());
}

/// caption_evaluate's numbers, ×100.
struct CaptionScores {
  double bleu2 = 0, bleu4 = 0, meteor = 0, rouge1 = 0, rouge2 = 0, rougeL = 0;
  std::size_t n = 0;
};

using CaptionTokenizer = std::function<std::vector<std::string>(std::string_view)>;

/// caption_evaluate(predictions, references, tokenizer). The default tokenizer is str.split().
inline CaptionScores caption_scores(const std::vector<std::string>& references, const std::vector<std::string>& predictions,
                                    const CaptionTokenizer& tokenize = python_split,
                                    const WordNet& wordnet = WordNet::shared()) {
  MOLM_CHECK(references.size() == predictions.size(), "caption", "{} predictions but {} references",
             predictions.size(), references.size());
  MOLM_CHECK(!references.empty(), "caption", "no caption pairs");
  auto pieces = [&](std::string_view text) {
    std::vector<std::string> t = tokenize(text);
    std::erase_if(t, [](const std::string& s) { return s == "[PAD]" || s == "[CLS]" || s == "[SEP]"; });
    return t;
  };
  std::vector<std::vector<Tokens>> refs;
  std::vector<Tokens> hyps;
  std::vector<double> meteor, r1, r2, rl;
  for (std::size_t i = 0; i < references.size(); ++i) {
    refs.push_back({pieces(references[i])});
    hyps.push_back(pieces(predictions[i]));
    meteor.push_back(meteor_score(refs.back(), hyps.back(), wordnet));
    const RougeScores r = rouge_scores(predictions[i], references[i]);  // the reference swaps them; F is symmetric
    r1.push_back(r.rouge1.fmeasure), r2.push_back(r.rouge2.fmeasure), rl.push_back(r.rougeL.fmeasure);
  }
  CaptionScores s;
  s.n = references.size();
  s.bleu2 = corpus_bleu(refs, hyps, {0.5, 0.5}) * 100;
  s.bleu4 = corpus_bleu(refs, hyps, {0.25, 0.25, 0.25, 0.25}) * 100;
  s.meteor = numpy_mean(meteor) * 100;
  s.rouge1 = numpy_mean(r1) * 100;
  s.rouge2 = numpy_mean(r2) * 100;
  s.rougeL = numpy_mean(rl) * 100;
  return s;
}

}  // namespace molm::metrics
