// metrics/wordnet.hpp and metrics/meteor.hpp against NLTK 3.8.1 (WordNetCorpusReader over Debian's
// wordnet-base, meteor_score with its defaults) from tests/golden/gen_caption_metrics.py:
//   - wordnet.synsets(word) — which synsets, in which order — for 300+ words (from the hand-written
//     pairs, WordNet's own index lemmas with inflections, exception-list forms);
//   - METEOR of the 60 hand-written caption pairs (whitespace convention), within 1e-9 each, and the
//     average (the number 3D-MoLM reports, ×100);
//   - caption_scores: all six numbers of 3D-MoLM's caption_evaluate, bit for bit.
// The same checks run on the ChEBI-20 pairs in caption_chebi_test.cpp. Skips (77) when WordNet is
// absent (/usr/share/wordnet or $MOLM_WORDNET_DIR).
#include "caption_checks.hpp"

using namespace molm;
using namespace molm::metrics;
using molm::testing::caption_fixture;
using molm::testing::wordnet_or_skip;

TEST_CASE("WordNet synsets equal NLTK's wordnet.synsets(), in order") {
  const WordNet& wn = wordnet_or_skip();
  std::size_t n = 0, found = 0;
  for (const auto& c : caption_fixture().json.at("wordnet")) {
    const auto word = c.at("word").get<std::string>();
    std::vector<std::string> got;
    for (const auto& s : wn.synsets(word)) got.push_back(fmt::format("{}{:08d}", "nvar"[s.pos], s.offset));
    INFO("word: " << word);
    CHECK(got == c.at("synsets").get<std::vector<std::string>>());
    ++n;
    found += !got.empty();
  }
  CHECK(n > 300);
  CHECK(found > 100);
}

TEST_CASE("WordNet: morphy, lemma names and a missing folder") {
  const WordNet& wn = wordnet_or_skip();
  CHECK(wn.morphy("geese", WordNet::noun) == std::vector<std::string>{"goose"});
  CHECK(wn.morphy("hydroxylated", WordNet::verb).empty());
  const auto dog = wn.synsets("dog");
  REQUIRE(!dog.empty());
  CHECK(wn.lemma_names(dog[0]) == std::vector<std::string>{"dog", "domestic_dog", "Canis_familiaris"});
  const auto names = wn.synset_lemma_names("better");  // adjective markers such as "(p)" are removed
  for (const auto& name : names) CHECK(name.find('(') == std::string::npos);
  try {
    WordNet missing("/nonexistent/wordnet");
    FAIL("no error");
  } catch (const molm::error& e) {
    CHECK_THAT(e.what(), Catch::Matchers::Contains("/nonexistent/wordnet/data.noun") &&
                             Catch::Matchers::Contains("wordnet-base"));
  }
}

TEST_CASE("METEOR equals NLTK's meteor_score on every caption pair") {
  molm::testing::check_meteor(caption_fixture(), wordnet_or_skip());
}

TEST_CASE("METEOR: NLTK's documented examples and its alignment quirks") {
  const WordNet& wn = wordnet_or_skip();
  const std::vector<std::string> hyp1 = {"It", "is", "a", "guide", "to", "action", "which", "ensures", "that", "the",
                                         "military", "always", "obeys", "the", "commands", "of", "the", "party"};
  const std::vector<std::string> ref1 = {"It", "is", "a", "guide", "to", "action", "that", "ensures", "that", "the",
                                         "military", "will", "forever", "heed", "Party", "commands"};
  CHECK(std::round(single_meteor_score(ref1, hyp1, wn) * 1e4) / 1e4 == 0.6944);  // NLTK's doctest
  CHECK(meteor_score({{"this", "is", "a", "cat"}}, {"non", "matching", "hypothesis"}, wn) == 0.0);
  CHECK(meteor_score({{"a"}}, {}, wn) == 0.0);
  // Stems meet in the stem stage; the synonym stage sees stems ("larg" has no synonyms).
  const auto m = meteor_align({"molecules", "large"}, {"molecule", "big"}, wn);
  CHECK(m == std::vector<std::pair<int, int>>{{0, 0}});
}

TEST_CASE("caption_scores equals 3D-MoLM's caption_evaluate (x100, numpy means) to the last bit") {
  molm::testing::check_caption_evaluate(caption_fixture(), wordnet_or_skip());
}
