// The two piece conventions of 3D-MoLM's caption metrics (reference-model.md §7.2) end to end:
// molm's tokenizers feeding molm's metrics must give the numbers that transformers 4.35.2 pieces
// gave NLTK 3.8.1 (tests/golden/gen_caption_metrics.py), on both pair sets: the 60 hand-written
// pairs and the 400 ChEBI-20 pairs (rendered from ../shared/data/chebi20/validation.txt, their text
// checked against the generator's hashes):
//   - SciBERT: BertTokenizer(vocab.txt) pieces, uncased; molm adds [DEC] as 3D-MoLM's stage-2
//     tokenizer has it (the generator's tokenizer lacks it; no fixture string contains "[DEC]", so
//     the pieces are the same);
//   - Llama: the plain LlamaTokenizer (legacy), as read_generalist_results.py loads it;
// with "[PAD]", "[CLS]", "[SEP]" dropped. Per-pair METEOR within 1e-9 and corpus BLEU-2/4 within
// 1e-9, both conventions; caption_scores with the tokenizer as its callback gives the same means.
// Skips (77) without ../shared/data's tokenizers and validation descriptions or without WordNet.
#include "metrics/caption_checks.hpp"

#include <molm/metrics/caption.hpp>
#include <molm/text/llama_tokenizer.hpp>
#include <molm/text/wordpiece.hpp>

#include <cstdio>
#include <cstdlib>

using namespace molm;
using namespace molm::metrics;
namespace fs = std::filesystem;
using molm::testing::caption_fixture;
using molm::testing::CaptionFixture;
using molm::testing::chebi_caption_fixture;

namespace {

fs::path scibert_vocab() { return testing::shared_data_dir() / "tokenizers/scibert/vocab.txt"; }
fs::path llama_model() { return testing::shared_data_dir() / "tokenizers/llama2/tokenizer.model"; }

const bool present = [] {
  testing::skip_unless_present({scibert_vocab(), llama_model(), testing::chebi_validation_path()});
  testing::wordnet_or_skip();
  return true;
}();

const text::WordPieceTokenizer& scibert() {
  static const text::WordPieceTokenizer t = [] {
    auto tok = text::WordPieceTokenizer::from_file(scibert_vocab());
    tok.add_special_token("[DEC]");
    return tok;
  }();
  return t;
}

const text::LlamaTokenizer& llama() {
  static const text::LlamaTokenizer t = text::LlamaTokenizer::from_file(llama_model(), text::LlamaConvention::plain);
  return t;
}

/// The pieces caption_evaluate scores: tokenize(), then the strings [PAD], [CLS], [SEP] dropped.
std::vector<std::string> metric_pieces(const CaptionTokenizer& tokenize, std::string_view s) {
  auto t = tokenize(s);
  std::erase_if(t, [](const std::string& p) { return p == "[PAD]" || p == "[CLS]" || p == "[SEP]"; });
  return t;
}

void check_convention(const CaptionFixture& f, const std::string& name, const CaptionTokenizer& tokenize) {
  std::vector<std::vector<Tokens>> refs;
  std::vector<Tokens> hyps;
  std::vector<std::string> references, predictions;
  std::vector<double> want_meteor;
  double worst = 0;
  for (const auto& s : f.samples) {
    REQUIRE(s.reference.find("[DEC]") == std::string::npos);
    REQUIRE(s.hypothesis.find("[DEC]") == std::string::npos);
    refs.push_back({metric_pieces(tokenize, s.reference)});
    hyps.push_back(metric_pieces(tokenize, s.hypothesis));
    references.push_back(s.reference), predictions.push_back(s.hypothesis);
    const double got = meteor_score(refs.back(), hyps.back());
    const double want = s.value.at("meteor_" + name);
    want_meteor.push_back(want);
    INFO(f.name << " | " << name << " | " << s.kind << " | " << s.hypothesis << "\nmolm " << got << " vs NLTK " << want);
    REQUIRE(std::abs(got - want) <= 1e-9);
    worst = std::max(worst, std::abs(got - want));
  }
  const auto& corpus = f.json.at("corpus").at(name);
  const double bleu2 = corpus_bleu(refs, hyps, {0.5, 0.5}), bleu4 = corpus_bleu(refs, hyps);
  CHECK(std::abs(bleu2 - corpus.at("bleu2").get<double>()) <= 1e-9);
  CHECK(std::abs(bleu4 - corpus.at("bleu4").get<double>()) <= 1e-9);

  // caption_scores with the tokenizer as its callback: the same pieces, hence the same numbers.
  const CaptionScores s = caption_scores(references, predictions, tokenize);
  CHECK(s.n == f.samples.size());
  CHECK(s.bleu2 == bleu2 * 100);
  CHECK(s.bleu4 == bleu4 * 100);
  CHECK(std::abs(s.meteor - numpy_mean(want_meteor) * 100) <= 1e-9);
  WARN(fmt::format("{}, {}: {} pairs, corpus BLEU-2 {:.17g} (NLTK {:.17g}), BLEU-4 {:.17g} (NLTK {:.17g}), mean METEOR "
                   "x100 {:.12f} (NLTK {:.12f}), largest per-pair |molm - NLTK| {:.3g}",
                   f.name, name, f.samples.size(), bleu2, corpus.at("bleu2").get<double>(), bleu4,
                   corpus.at("bleu4").get<double>(), s.meteor, numpy_mean(want_meteor) * 100, worst));
}

}  // namespace

TEST_CASE("the ChEBI-20 recipes render to the text the generator scored") {
  testing::check_rendered_like_python(chebi_caption_fixture());
}

TEST_CASE("caption metrics in the SciBERT WordPiece convention equal NLTK on transformers' pieces") {
  const CaptionTokenizer tokenize = [](std::string_view s) { return scibert().tokenize(s); };
  for (const CaptionFixture* f : {&caption_fixture(), &chebi_caption_fixture()}) check_convention(*f, "scibert", tokenize);
}

TEST_CASE("caption metrics in the plain Llama piece convention equal NLTK on transformers' pieces") {
  const CaptionTokenizer tokenize = [](std::string_view s) { return llama().tokenize(s); };
  for (const CaptionFixture* f : {&caption_fixture(), &chebi_caption_fixture()}) check_convention(*f, "llama", tokenize);
}
