// metrics/wordnet.hpp and metrics/meteor.hpp against NLTK 3.8.1 (WordNetCorpusReader over Debian's
// wordnet-base, meteor_score with its defaults) from tests/golden/gen_caption_metrics.py:
//   - wordnet.synsets(word) — which synsets, in which order — for 300+ words, with inflections and
//     exception-list forms;
//   - METEOR of the 400 ChEBI-20 caption pairs (whitespace convention), within 1e-9 each, and the
//     average (the number 3D-MoLM reports, ×100);
//   - caption_scores: all six numbers of 3D-MoLM's caption_evaluate, bit for bit.
// Skips (77) when WordNet is absent (/usr/share/wordnet or $MOLM_WORDNET_DIR).
#include "caption_fixture.hpp"

#include <molm/metrics/caption.hpp>
#include <molm/metrics/meteor.hpp>

#include <cstdio>
#include <cstdlib>

using namespace molm;
using namespace molm::metrics;
using molm::testing::caption_fixture;
using molm::testing::ws_tokens;

namespace {
const WordNet& wordnet_or_skip() {
  if (!std::filesystem::exists(WordNet::default_dir() / "index.noun")) {
    std::fprintf(stderr, "SKIP: WordNet is absent from %s (Debian package wordnet-base, or set MOLM_WORDNET_DIR)\n",
                 WordNet::default_dir().c_str());
    std::exit(77);
  }
  return WordNet::shared();
}
}  // namespace

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
  const WordNet& wn = wordnet_or_skip();
  double worst = 0, sum = 0, want_sum = 0;
  for (const auto& s : caption_fixture().samples) {
    const double got = meteor_score({ws_tokens(s.reference)}, ws_tokens(s.hypothesis), wn);
    const double want = s.value.at("meteor");
    INFO(s.kind << " | " << s.hypothesis << "\nmolm " << got << " vs NLTK " << want);
    REQUIRE(std::abs(got - want) <= 1e-9);
    worst = std::max(worst, std::abs(got - want));
    sum += got, want_sum += want;
  }
  const double n = static_cast<double>(caption_fixture().samples.size());
  WARN("METEOR over " << n << " pairs: mean x100 " << 100 * sum / n << " (NLTK " << 100 * want_sum / n
                      << "), largest |molm - NLTK| = " << worst);
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
  const WordNet& wn = wordnet_or_skip();
  std::vector<std::string> refs, preds;
  for (const auto& s : caption_fixture().samples) refs.push_back(s.reference), preds.push_back(s.hypothesis);
  const CaptionScores got = caption_scores(refs, preds, python_split, wn);
  const auto& want = caption_fixture().json.at("corpus").at("caption_evaluate_whitespace");
  CHECK(got.n == 400);
  CHECK(got.bleu2 == want.at("bleu2").get<double>());
  CHECK(got.bleu4 == want.at("bleu4").get<double>());
  CHECK(got.meteor == want.at("meteor").get<double>());
  CHECK(got.rouge1 == want.at("rouge1").get<double>());
  CHECK(got.rouge2 == want.at("rouge2").get<double>());
  CHECK(got.rougeL == want.at("rougeL").get<double>());
  WARN(fmt::format("caption_evaluate (whitespace): BLEU-2 {:.4f} BLEU-4 {:.4f} METEOR {:.4f} ROUGE-1 {:.4f} "
                   "ROUGE-2 {:.4f} ROUGE-L {:.4f}",
                   got.bleu2, got.bleu4, got.meteor, got.rouge1, got.rouge2, got.rougeL));
}
