// metrics/porter.hpp gives NLTK 3.8.1's PorterStemmer() stem for every distinct lower-cased
// str.split() token of the ChEBI-20 validation descriptions (13,253 words with their punctuation,
// digits and chemical names). The words come from ../shared/data/chebi20/validation.txt, the stems
// from tests/golden/data/caption_metrics/porter_chebi.txt (one line per word in sorted order:
// the number of characters NLTK dropped from the word, then what it appended).
// Skips (77) when the shared data file is absent.
#include "caption_fixture.hpp"

#include <molm/metrics/porter.hpp>

#include <set>

using namespace molm::metrics;

TEST_CASE("Porter stems equal NLTK's on every word of the ChEBI-20 validation descriptions") {
  molm::testing::require_chebi_validation_or_skip();  // the only test case: a skip hides nothing
  std::set<std::string> words;  // sorted by bytes = by code points, as Python's sorted()
  for (const auto& description : molm::testing::read_chebi_descriptions())
    for (const auto& t : python_split(description)) words.insert(python_lower(t));
  std::ifstream stems(molm::testing::caption_fixture_dir() / "porter_chebi.txt");
  REQUIRE(stems.good());
  std::size_t n = 0, changed = 0;
  const PorterStemmer stemmer;
  for (const std::string& word : words) {
    std::string code;
    REQUIRE(std::getline(stems, code));
    std::size_t digits = 0;
    while (digits < code.size() && code[digits] >= '0' && code[digits] <= '9') ++digits;
    const std::size_t drop = std::stoul(code.substr(0, digits));
    std::u32string w = utf8_decode(word);
    REQUIRE(drop <= w.size());
    w.resize(w.size() - drop);
    const std::string want = utf8_encode(w) + code.substr(digits);
    INFO("word " << n << ": " << word);
    REQUIRE(stemmer.stem(word) == want);
    changed += want != word;
    ++n;
  }
  std::string rest;
  CHECK(!std::getline(stems, rest));  // as many stems as words
  CHECK(n == 13253);
  WARN(n << " ChEBI-20 words, " << changed << " changed by the stemmer, all equal to NLTK's stems");
}
