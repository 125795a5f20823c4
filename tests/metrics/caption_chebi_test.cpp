// The caption metrics (metrics/rouge.hpp, bleu.hpp, meteor.hpp, caption.hpp) on the 400 ChEBI-20 pairs
// of tests/golden/gen_caption_metrics.py: real validation descriptions as references, seeded edits of
// them as hypotheses. The fixture (chebi_pairs.json) holds only row numbers, edit recipes, hashes and
// NLTK 3.8.1 / rouge-score 0.1.2 values; the text is rendered here from
// ../shared/data/chebi20/validation.txt, and each rendered hypothesis must hash like the generator's.
// Then the checks of caption_checks.hpp: ROUGE-1/2/L P/R/F and sentence BLEU-2/4 per pair, corpus
// BLEU-2/4 (all, per edit kind, three references), METEOR per pair, within 1e-9; caption_evaluate's six
// numbers exactly. Skips (77) without the shared data file or without WordNet.
#include "caption_checks.hpp"

#include <set>

using molm::testing::chebi_caption_fixture;

namespace {
const bool present = [] {
  molm::testing::require_chebi_validation_or_skip();
  molm::testing::wordnet_or_skip();
  return true;
}();
}  // namespace

TEST_CASE("the ChEBI-20 recipes render to the text the generator scored") {
  const auto& f = chebi_caption_fixture();
  molm::testing::check_rendered_like_python(f);
  CHECK(f.samples.size() == 400);
  std::set<std::string> kinds;
  std::size_t bytes = 0;
  for (const auto& s : f.samples) kinds.insert(s.kind), bytes += s.hypothesis.size();
  CHECK(kinds.size() == 22);  // 12 edit kinds and 10 special cases
  WARN(f.samples.size() << " ChEBI-20 pairs, " << kinds.size() << " kinds, " << bytes
                        << " bytes of rendered hypotheses, all hashing like the generator's");
}

TEST_CASE("ChEBI-20: ROUGE-1/2/L equal rouge-score's on every pair") { molm::testing::check_rouge(chebi_caption_fixture()); }

TEST_CASE("ChEBI-20: sentence BLEU-2/4 equal NLTK's on every pair") {
  molm::testing::check_sentence_bleu(chebi_caption_fixture());
}

TEST_CASE("ChEBI-20: corpus BLEU-2/4 equal NLTK's over all pairs, per edit kind and with several references") {
  molm::testing::check_corpus_bleu(chebi_caption_fixture());
}

TEST_CASE("ChEBI-20: METEOR equals NLTK's meteor_score on every pair") {
  molm::testing::check_meteor(chebi_caption_fixture(), molm::testing::wordnet_or_skip());
}

TEST_CASE("ChEBI-20: caption_scores equals 3D-MoLM's caption_evaluate to the last bit") {
  molm::testing::check_caption_evaluate(chebi_caption_fixture(), molm::testing::wordnet_or_skip());
}
