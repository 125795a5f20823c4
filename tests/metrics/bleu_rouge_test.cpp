// metrics/bleu.hpp, metrics/rouge.hpp and metrics/python_str.hpp against NLTK 3.8.1 corpus_bleu /
// sentence_bleu and rouge-score 0.1.2 RougeScorer on the 60 hand-written caption pairs of
// tests/golden/gen_caption_metrics.py (invented ChEBI-style descriptions and seeded edits of them;
// whitespace convention: tokens = Python's str.split()), with the checks of caption_checks.hpp:
// every per-pair and corpus value within 1e-9 absolute (they agree to the last bit in practice; the
// test reports the largest difference). Also Python's str.lower()/split() on unicode strings, NLTK's
// documented BLEU example and np.mean. No shared data needed (the ChEBI-20 pairs are checked by
// caption_chebi_test.cpp).
#include "caption_checks.hpp"

#include <cfloat>
#include <cmath>

using namespace molm;
using namespace molm::metrics;
using molm::testing::caption_fixture;

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
  molm::testing::check_rouge(caption_fixture());
}

TEST_CASE("ROUGE's tokenizer keeps only ASCII letters and digits after Python's lower()") {
  CHECK(rouge_tokenize("The (2R)-2-hydroxy ACID, at 25 ℃!") ==
        std::vector<std::string>{"the", "2r", "2", "hydroxy", "acid", "at", "25"});
  CHECK(rouge_tokenize("\u212a İx naïve") == std::vector<std::string>{"k", "i", "x", "na", "ve"});
  CHECK(rouge_tokenize(" \t ").empty());
  CHECK(rouge_l({}, {"a"}).fmeasure == 0.0);
}

TEST_CASE("sentence BLEU-2/4 equal NLTK's on every pair") { molm::testing::check_sentence_bleu(caption_fixture()); }

TEST_CASE("corpus BLEU-2/4 equal NLTK's over all pairs, per edit kind and with several references") {
  molm::testing::check_corpus_bleu(caption_fixture());
}

TEST_CASE("the hand-written set covers every edit kind twice and the special cases") {
  std::map<std::string, int> count;
  for (const auto& s : caption_fixture().samples) ++count[s.kind];
  for (const char* kind : {"identical", "drop", "swap", "synonym", "truncate", "mixed", "inflect", "unrelated", "upper",
                           "unicode", "shuffle", "repeat"})
    CHECK(count[kind] >= 2);
  for (const char* kind : {"empty", "whitespace", "one_word", "punctuation", "unicode_only", "kelvin_dotted_i", "short",
                           "lowercase_copy", "trailing_space", "long_hyp", "unicode_ref", "stems"})
    CHECK(count[kind] == 1);
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
