// metrics/porter.hpp against NLTK 3.8.1's PorterStemmer() (NLTK_EXTENSIONS): hand-picked words
// for every rule, NLTK's irregular forms and special cases, and non-ASCII words, from
// tests/golden/gen_caption_metrics.py. The full ChEBI-20 vocabulary is porter_chebi_test.cpp.
#include "caption_fixture.hpp"

#include <molm/metrics/porter.hpp>

using namespace molm::metrics;

TEST_CASE("Porter stems equal NLTK's on words chosen for each rule and NLTK extension") {
  const PorterStemmer stemmer;
  std::size_t n = 0;
  for (const auto& c : molm::testing::caption_fixture().json.at("porter")) {
    const auto word = c.at(0).get<std::string>();
    INFO("word: " << word);
    CHECK(stemmer.stem(word) == c.at(1).get<std::string>());
    ++n;
  }
  CHECK(n > 100);
}

TEST_CASE("Porter: NLTK's irregular pool, short words and lower-casing") {
  CHECK(porter_stem("skies") == "sky");
  CHECK(porter_stem("dying") == "die");
  CHECK(porter_stem("Skies") == "ski");  // the pool is looked up before lower-casing
  CHECK(porter_stem("AS") == "as");      // ≤ 2 characters: only lower-cased
  CHECK(porter_stem("generalizations") == "gener");
  CHECK(porter_stem("ties") == "tie");  // NLTK: 4-letter "ies" → "ie"
}
