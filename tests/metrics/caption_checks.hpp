// The per-pair and corpus checks of molm's caption metrics against a CaptionFixture (NLTK 3.8.1,
// rouge-score 0.1.2 values from tests/golden/gen_caption_metrics.py), shared by the hand-written set
// (bleu_rouge_test.cpp, meteor_test.cpp) and the ChEBI-20 set (caption_chebi_test.cpp). Per-pair
// values must agree within 1e-9 absolute (in practice to the last bit; each check reports its
// largest difference), caption_evaluate's numbers exactly.
#pragma once

#include "caption_fixture.hpp"

#include <molm/metrics/bleu.hpp>
#include <molm/metrics/caption.hpp>
#include <molm/metrics/meteor.hpp>
#include <molm/metrics/rouge.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace molm::testing {

constexpr double kCaptionTolerance = 1e-9;

/// REQUIREs |got - want| <= 1e-9 and returns the difference (for the largest-difference report).
inline double require_caption_near(double got, double want, const std::string& what) {
  INFO(what << ": molm " << got << " vs Python " << want);
  REQUIRE(std::abs(got - want) <= kCaptionTolerance);
  return std::abs(got - want);
}

/// WordNet for METEOR; exits 77 (skip) when the database is absent.
inline const metrics::WordNet& wordnet_or_skip() {
  using metrics::WordNet;
  if (!std::filesystem::exists(WordNet::default_dir() / "index.noun")) {
    std::fprintf(stderr, "SKIP: WordNet is absent from %s (Debian package wordnet-base, or set MOLM_WORDNET_DIR)\n",
                 WordNet::default_dir().c_str());
    std::exit(77);
  }
  return WordNet::shared();
}

/// The ChEBI set's hypotheses as rendered here hash like the generator's (so both scored the same text).
inline void check_rendered_like_python(const CaptionFixture& f) {
  std::size_t checked = 0;
  for (const auto& s : f.samples) {
    if (s.python_fnv1a64.empty()) continue;
    INFO(f.name << " pair " << checked << " (" << s.kind << "): rendered " << s.hypothesis.size() << " bytes");
    REQUIRE(fnv1a64_hex(s.hypothesis) == s.python_fnv1a64);
    ++checked;
  }
  REQUIRE(checked == f.samples.size());
}

/// ROUGE-1/2/L precision, recall and F-measure of every pair (rouge-score's scorer.score(ref, hyp)).
inline void check_rouge(const CaptionFixture& f) {
  double worst = 0;
  for (const auto& s : f.samples) {
    const metrics::RougeScores r = metrics::rouge_scores(s.reference, s.hypothesis);
    const std::string id = f.name + " | " + s.kind + " | " + s.hypothesis;
    for (const auto& [name, score] : {std::pair{"rouge1", r.rouge1}, {"rouge2", r.rouge2}, {"rougeL", r.rougeL}}) {
      const std::string n = name;
      worst = std::max(worst, require_caption_near(score.precision, s.value.at(n + ".p"), id + " " + n + ".p"));
      worst = std::max(worst, require_caption_near(score.recall, s.value.at(n + ".r"), id + " " + n + ".r"));
      worst = std::max(worst, require_caption_near(score.fmeasure, s.value.at(n + ".f"), id + " " + n + ".f"));
    }
  }
  WARN("ROUGE, " << f.name << ": " << f.samples.size() << " pairs x 9 values, largest |molm - rouge-score| = "
                 << worst);
}

/// Sentence BLEU-2 and BLEU-4 (NLTK's sentence_bleu, method0) of every pair, whitespace tokens.
inline void check_sentence_bleu(const CaptionFixture& f) {
  double worst = 0;
  for (const auto& s : f.samples) {
    const std::vector<metrics::Tokens> refs{ws_tokens(s.reference)};
    const metrics::Tokens hyp = ws_tokens(s.hypothesis);
    const std::string id = f.name + " | " + s.kind + " | " + s.hypothesis;
    worst = std::max(worst, require_caption_near(metrics::sentence_bleu(refs, hyp, {0.5, 0.5}), s.value.at("bleu2"),
                                                 id + " bleu2"));
    worst = std::max(worst, require_caption_near(metrics::sentence_bleu(refs, hyp), s.value.at("bleu4"), id + " bleu4"));
  }
  WARN("sentence BLEU, " << f.name << ": " << f.samples.size() << " pairs, largest |molm - NLTK| = " << worst);
}

/// Corpus BLEU-2/4 over all pairs, over each edit kind, and with three references for the first
/// min(60, n) hypotheses (references i, i+1, i+7 mod n), whitespace tokens.
inline void check_corpus_bleu(const CaptionFixture& f) {
  using metrics::corpus_bleu;
  using metrics::Tokens;
  std::vector<std::vector<Tokens>> refs;
  std::vector<Tokens> hyps;
  for (const auto& s : f.samples) refs.push_back({ws_tokens(s.reference)}), hyps.push_back(ws_tokens(s.hypothesis));
  REQUIRE(!refs.empty());

  const auto& corpus = f.json.at("corpus");
  const double bleu2 = corpus_bleu(refs, hyps, {0.5, 0.5}), bleu4 = corpus_bleu(refs, hyps);
  const double want2 = corpus.at("whitespace").at("bleu2").get<double>();
  const double want4 = corpus.at("whitespace").at("bleu4").get<double>();
  require_caption_near(bleu2, want2, f.name + " corpus bleu2");
  require_caption_near(bleu4, want4, f.name + " corpus bleu4");
  WARN(fmt::format("{}: corpus BLEU-2 {:.17g} (NLTK {:.17g}), BLEU-4 {:.17g} (NLTK {:.17g})", f.name, bleu2, want2,
                   bleu4, want4));

  std::size_t kinds = 0;
  for (const auto& [kind, want] : corpus.at("whitespace_by_kind").items()) {
    std::vector<std::vector<Tokens>> r;
    std::vector<Tokens> h;
    for (std::size_t i = 0; i < f.samples.size(); ++i)
      if (f.samples[i].kind == kind) r.push_back(refs[i]), h.push_back(hyps[i]);
    INFO(f.name << " kind " << kind);
    REQUIRE(!h.empty());
    require_caption_near(corpus_bleu(r, h, {0.5, 0.5}), want.at("bleu2").get<double>(), kind + " bleu2");
    require_caption_near(corpus_bleu(r, h), want.at("bleu4").get<double>(), kind + " bleu4");
    ++kinds;
  }
  CHECK(kinds >= 12);  // every edit kind of the generator

  const std::size_t m = std::min<std::size_t>(60, refs.size());
  std::vector<std::vector<Tokens>> multi;
  for (std::size_t i = 0; i < m; ++i)
    multi.push_back({refs[i][0], refs[(i + 1) % refs.size()][0], refs[(i + 7) % refs.size()][0]});
  const std::vector<Tokens> first(hyps.begin(), hyps.begin() + static_cast<std::ptrdiff_t>(m));
  const auto& want_multi = corpus.at("whitespace_multi_ref_first60");
  require_caption_near(corpus_bleu(multi, first, {0.5, 0.5}), want_multi.at("bleu2").get<double>(),
                       f.name + " multi-ref bleu2");
  require_caption_near(corpus_bleu(multi, first), want_multi.at("bleu4").get<double>(), f.name + " multi-ref bleu4");
}

/// METEOR (NLTK's meteor_score with its defaults) of every pair, whitespace tokens.
inline void check_meteor(const CaptionFixture& f, const metrics::WordNet& wn) {
  double worst = 0, sum = 0, want_sum = 0;
  for (const auto& s : f.samples) {
    const double got = metrics::meteor_score({ws_tokens(s.reference)}, ws_tokens(s.hypothesis), wn);
    const double want = s.value.at("meteor");
    worst = std::max(worst, require_caption_near(got, want, f.name + " | " + s.kind + " | " + s.hypothesis + " meteor"));
    sum += got, want_sum += want;
  }
  const double n = static_cast<double>(f.samples.size());
  WARN("METEOR, " << f.name << ", " << n << " pairs: mean x100 " << 100 * sum / n << " (NLTK " << 100 * want_sum / n
                  << "), largest |molm - NLTK| = " << worst);
}

/// caption_scores with str.split() tokens: 3D-MoLM's caption_evaluate numbers (x100), to the last bit.
inline void check_caption_evaluate(const CaptionFixture& f, const metrics::WordNet& wn) {
  std::vector<std::string> refs, preds;
  for (const auto& s : f.samples) refs.push_back(s.reference), preds.push_back(s.hypothesis);
  const metrics::CaptionScores got = metrics::caption_scores(refs, preds, metrics::python_split, wn);
  const auto& want = f.json.at("corpus").at("caption_evaluate_whitespace");
  CHECK(got.n == f.samples.size());
  CHECK(got.bleu2 == want.at("bleu2").get<double>());
  CHECK(got.bleu4 == want.at("bleu4").get<double>());
  CHECK(got.meteor == want.at("meteor").get<double>());
  CHECK(got.rouge1 == want.at("rouge1").get<double>());
  CHECK(got.rouge2 == want.at("rouge2").get<double>());
  CHECK(got.rougeL == want.at("rougeL").get<double>());
  WARN(fmt::format("caption_evaluate (whitespace), {} ({} pairs): BLEU-2 {:.4f} BLEU-4 {:.4f} METEOR {:.4f} "
                   "ROUGE-1 {:.4f} ROUGE-2 {:.4f} ROUGE-L {:.4f}",
                   f.name, got.n, got.bleu2, got.bleu4, got.meteor, got.rouge1, got.rouge2, got.rougeL));
}

}  // namespace molm::testing
