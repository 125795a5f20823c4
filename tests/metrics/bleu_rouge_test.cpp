// metrics/bleu.hpp, metrics/rouge.hpp and metrics/python_str.hpp against NLTK 3.8.1 corpus_bleu /
// sentence_bleu and rouge-score 0.1.2 RougeScorer on the 400 ChEBI-20 caption pairs of
// tests/golden/gen_caption_metrics.py (whitespace convention: tokens = Python's str.split()).
// Every value within 1e-9 absolute; they agree to the last bit in practice (the test reports the
// largest difference).
#include "caption_fixture.hpp"

#include <molm/metrics/bleu.hpp>
#include <molm/metrics/caption.hpp>
#include <molm/metrics/rouge.hpp>

#include <cfloat>
#include <cmath>

using namespace molm;
using namespace molm::metrics;
using molm::testing::caption_fixture;
using molm::testing::ws_tokens;

namespace {
constexpr double kTol = 1e-9;

double worst_diff = 0;
void require_near(double got, double want, const std::string& what) {
  INFO(what << ": molm " << got << " vs Python " << want);
  REQUIRE(std::abs(got - want) <= kTol);
  worst_diff = std::max(worst_diff, std::abs(got - want));
}
}  // namespace

TEST_CASE("Python's str.lower() and str.split() on unicode text") {
  for (const auto& c : caption_fixture().json.at("python_str")) {
    const auto text = c.at("text").get<std::string>();
    INFO("text: " << text);
    CHECK(python_lower(text) == c.at("lower").get<std::string>());
    CHECK(python_split(text) == c.at("split").get<std::vector<std::string>>());
  }
  // Malformed UTF-8 becomes U+FFFD (Python's errors="replace"): a bad lead byte, a truncated sequence.
  CHECK(utf8_decode("a\xff" "b") == std::u32string{U'a', 0xFFFD, U'b'});
  CHECK(utf8_decode("\xe2\x82" "x") == std::u32string{0xFFFD, U'x'});
  CHECK(utf8_encode(utf8_decode("Σ℃😀")) == "Σ℃😀");
}

TEST_CASE("ROUGE-1/2/L precision, recall and F-measure equal rouge-score's on every pair") {
  worst_diff = 0;
  for (const auto& s : caption_fixture().samples) {
    const RougeScores r = rouge_scores(s.reference, s.hypothesis);
    const std::string id = s.kind + " | " + s.hypothesis;
    for (const auto& [name, score] : {std::pair{"rouge1", r.rouge1}, {"rouge2", r.rouge2}, {"rougeL", r.rougeL}}) {
      require_near(score.precision, s.value.at(std::string(name) + ".p"), id + " " + name + ".p");
      require_near(score.recall, s.value.at(std::string(name) + ".r"), id + " " + name + ".r");
      require_near(score.fmeasure, s.value.at(std::string(name) + ".f"), id + " " + name + ".f");
    }
  }
  WARN("ROUGE: 400 pairs x 9 values, largest |molm - rouge-score| = " << worst_diff);
}

TEST_CASE("ROUGE's tokenizer keeps only ASCII letters and digits after Python's lower()") {
  CHECK(rouge_tokenize("The (2R)-2-hydroxy ACID, at 25 ℃!") ==
        std::vector<std::string>{"the", "2r", "2", "hydroxy", "acid", "at", "25"});
  CHECK(rouge_tokenize("\u212a İx naïve") == std::vector<std::string>{"k", "i", "x", "na", "ve"});
  CHECK(rouge_tokenize(" \t ").empty());
  CHECK(rouge_l({}, {"a"}).fmeasure == 0.0);
}

TEST_CASE("sentence BLEU-2/4 equal NLTK's on every pair") {
  worst_diff = 0;
  for (const auto& s : caption_fixture().samples) {
    const std::vector<Tokens> refs{ws_tokens(s.reference)};
    const Tokens hyp = ws_tokens(s.hypothesis);
    const std::string id = s.kind + " | " + s.hypothesis;
    require_near(sentence_bleu(refs, hyp, {0.5, 0.5}), s.value.at("bleu2"), id + " bleu2");
    require_near(sentence_bleu(refs, hyp), s.value.at("bleu4"), id + " bleu4");
  }
  WARN("sentence BLEU: largest |molm - NLTK| = " << worst_diff);
}

TEST_CASE("corpus BLEU-2/4 equal NLTK's over all pairs, per edit kind and with several references") {
  const auto& f = caption_fixture();
  std::vector<std::vector<Tokens>> refs;
  std::vector<Tokens> hyps;
  for (const auto& s : f.samples) refs.push_back({ws_tokens(s.reference)}), hyps.push_back(ws_tokens(s.hypothesis));

  const auto& corpus = f.json.at("corpus");
  const double bleu2 = corpus_bleu(refs, hyps, {0.5, 0.5}), bleu4 = corpus_bleu(refs, hyps);
  require_near(bleu2, corpus.at("whitespace").at("bleu2").get<double>(), "corpus bleu2");
  require_near(bleu4, corpus.at("whitespace").at("bleu4").get<double>(), "corpus bleu4");
  WARN(fmt::format("corpus BLEU-2 {:.17g} (NLTK {:.17g}), BLEU-4 {:.17g} (NLTK {:.17g})", bleu2,
                   corpus.at("whitespace").at("bleu2").get<double>(), bleu4,
                   corpus.at("whitespace").at("bleu4").get<double>()));

  for (const auto& [kind, want] : corpus.at("whitespace_by_kind").items()) {
    std::vector<std::vector<Tokens>> r;
    std::vector<Tokens> h;
    for (std::size_t i = 0; i < f.samples.size(); ++i)
      if (f.samples[i].kind == kind) r.push_back(refs[i]), h.push_back(hyps[i]);
    require_near(corpus_bleu(r, h, {0.5, 0.5}), want.at("bleu2").get<double>(), kind + " bleu2");
    require_near(corpus_bleu(r, h), want.at("bleu4").get<double>(), kind + " bleu4");
  }

  std::vector<std::vector<Tokens>> multi;
  for (std::size_t i = 0; i < 60; ++i)
    multi.push_back({refs[i][0], refs[(i + 1) % refs.size()][0], refs[(i + 7) % refs.size()][0]});
  const std::vector<Tokens> first60(hyps.begin(), hyps.begin() + 60);
  const auto& m = corpus.at("whitespace_multi_ref_first60");
  require_near(corpus_bleu(multi, first60, {0.5, 0.5}), m.at("bleu2").get<double>(), "multi-ref bleu2");
  require_near(corpus_bleu(multi, first60), m.at("bleu4").get<double>(), "multi-ref bleu4");
}

TEST_CASE("corpus BLEU: NLTK's documented example, zero counts and errors") {
  const Tokens hyp1 = {"It", "is", "a", "guide", "to", "action", "which", "ensures", "that", "the", "military",
                       "always", "obeys", "the", "commands", "of", "the", "party"};
  const Tokens ref1a = {"It", "is", "a", "guide", "to", "action", "that", "ensures", "that", "the", "military",
                        "will", "forever", "heed", "Party", "commands"};
  const Tokens ref1b = {"It", "is", "the", "guiding", "principle", "which", "guarantees", "the", "military",
                        "forces", "always", "being", "under", "the", "command", "of", "the", "Party"};
  const Tokens ref1c = {"It", "is", "the", "practical", "guide", "for", "the", "army", "always", "to", "heed",
                        "the", "directions", "of", "the", "party"};
  const Tokens hyp2 = {"he", "read", "the", "book", "because", "he", "was", "interested", "in", "world", "history"};
  const Tokens ref2a = {"he", "was", "interested", "in", "world", "history", "because", "he", "read", "the", "book"};
  // nltk/translate/bleu_score.py, corpus_bleu's doctest.
  CHECK(corpus_bleu({{ref1a, ref1b, ref1c}, {ref2a}}, {hyp1, hyp2}) == Approx(0.5920778868801042).epsilon(1e-15));

  // No 4-gram match: method0 puts the smallest normal double in place of p4, not 0.
  const double b = sentence_bleu({{"a", "b", "c", "d"}}, {"a", "b", "c", "x"});
  CHECK(b == Approx(std::exp(0.25 * std::log(0.75) + 0.25 * std::log(2.0 / 3) + 0.25 * std::log(0.5) +
                      0.25 * std::log(DBL_MIN))).epsilon(1e-12));
  CHECK(b > 0);
  CHECK(sentence_bleu({{"a"}}, {"b"}) == 0.0);  // no unigram match at all
  CHECK(sentence_bleu({{"a"}}, {}) == 0.0);
  CHECK(metrics::detail::fsum({1e100, 1.0, -1e100}) == 1.0);
  CHECK(metrics::detail::fsum(std::vector<double>(10, 0.1)) == 1.0);
  CHECK_THROWS_AS(corpus_bleu({}, {}), molm::error);
  CHECK_THROWS_AS(corpus_bleu({{{"a"}}}, {{"a"}, {"b"}}), molm::error);
}

TEST_CASE("numpy_mean equals np.mean (pairwise sums, 8192-element blocks)") {
  for (const auto& c : caption_fixture().json.at("numpy_mean")) {
    const auto n = c.at(0).get<std::size_t>();
    std::vector<double> v;
    for (std::size_t i = 0; i < n; ++i) v.push_back(static_cast<double>((i * 7919) % 10007) / 10007);
    INFO("n = " << n);
    CHECK(numpy_mean(v) == c.at(1).get<double>());
  }
}
