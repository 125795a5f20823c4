// bench_text: the text side of evaluation on the 3,301 ChEBI-20 validation descriptions
// (../shared/data/chebi20/validation.txt, or $MOLM_DATA_DIR/chebi20/validation.txt), one thread:
//   - tokenizer throughput, MB/s of UTF-8 input: SciBERT WordPiece (uncased + [DEC]) and Llama-2
//     SentencePiece as 3D-MoLM configures it, `tokenize()` of each description;
//   - caption metrics, pairs/s: METEOR (str.split() tokens, WordNet) and ROUGE-1/2/L of each
//     description against a deterministic perturbation of it (hypothesis(), mirrored by the peer).
// The peer (peers/text_torch.py) runs transformers 4.35's slow BertTokenizer / LlamaTokenizer,
// NLTK 3.8.1's meteor_score and rouge-score 0.1.2 on the same strings. A figure whose data is
// missing (tokenizer files, WordNet) is left out, with a note on stderr.
#include "support/bench.hpp"

#include <molm/metrics/meteor.hpp>
#include <molm/metrics/python_str.hpp>
#include <molm/metrics/rouge.hpp>
#include <molm/text/llama_tokenizer.hpp>
#include <molm/text/wordpiece.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>

using namespace molm;
namespace fs = std::filesystem;

namespace {

fs::path shared_data() {
  if (const char* d = std::getenv("MOLM_DATA_DIR"); d && *d) return d;
  return MOLM_SHARED_DATA_DIR;
}

/// The description column of validation.txt (CID \t SMILES \t description), header skipped.
std::vector<std::string> descriptions(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  MOLM_CHECK(in.good(), "bench_text", "cannot open {} (set MOLM_DATA_DIR to the shared data folder)", path.string());
  std::vector<std::string> out;
  std::string line;
  std::getline(in, line);
  while (std::getline(in, line)) {
    const auto first = line.find('\t'), second = line.find('\t', first + 1);
    if (second != std::string::npos) out.push_back(line.substr(second + 1));
  }
  return out;
}

/// The benchmark's hypothesis for a reference: str.split() words with every 7th (i % 7 == 3)
/// dropped, neighbours swapped at every i % 5 == 1 and an "s" appended at every i % 6 == 2 (so
/// METEOR's stem and WordNet stages have words to work on), joined by spaces.
/// peers/text_torch.py does the same.
std::string hypothesis(const std::string& reference) {
  std::vector<std::string> kept;
  const auto words = metrics::python_split(reference);
  for (std::size_t i = 0; i < words.size(); ++i)
    if (i % 7 != 3) kept.push_back(words[i]);
  for (std::size_t i = 0; i + 1 < kept.size(); ++i)
    if (i % 5 == 1) std::swap(kept[i], kept[i + 1]);
  for (std::size_t i = 0; i < kept.size(); ++i)
    if (i % 6 == 2) kept[i] += "s";
  std::string out;
  for (const auto& w : kept) out += (out.empty() ? "" : " ") + w;
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  const bench::Peers peers = bench::Peers::from_args(argc, argv);
  const fs::path data = shared_data();
  const auto refs = descriptions(data / "chebi20/validation.txt");
  const std::string shape = fmt::format("chebi20_val{}", refs.size());
  std::size_t bytes = 0;
  for (const auto& r : refs) bytes += r.size();

  bench::Budget budget;
  budget.min_reps = 3;
  budget.min_time_s = 1.0;
  std::size_t sink = 0;  // keeps the work observable

  auto tokenizer_figure = [&](const std::string& name, const std::string& peer_name, auto&& tokenizer) {
    const double s = bench::median_times({[&] {
                                           for (const auto& r : refs) sink += tokenizer.tokenize(r).size();
                                         }},
                                         budget)[0];
    bench::emit({.bench = name, .shape = shape, .dtype = "utf8", .threads = 1, .molm = bytes / s / 1e6,
                 .peer = peers.get(name, shape, "utf8"), .peer_name = peer_name, .unit = "MB/s", .limit = {}});
  };
  if (fs::exists(data / "tokenizers/scibert/vocab.txt")) {
    auto wordpiece = text::WordPieceTokenizer::from_file(data / "tokenizers/scibert/vocab.txt");
    wordpiece.add_special_token("[DEC]");
    tokenizer_figure("tokenize_wordpiece_scibert", "transformers 4.35 BertTokenizer (slow)", wordpiece);
  } else {
    std::fprintf(stderr, "[text] no SciBERT vocab.txt under %s: WordPiece figure skipped\n", data.c_str());
  }
  if (fs::exists(data / "tokenizers/llama2/tokenizer.model")) {
    const auto llama = text::LlamaTokenizer::from_file(data / "tokenizers/llama2/tokenizer.model");
    tokenizer_figure("tokenize_llama2", "transformers 4.35 LlamaTokenizer (slow, legacy)", llama);
  } else {
    std::fprintf(stderr, "[text] no Llama tokenizer.model under %s: Llama figure skipped\n", data.c_str());
  }

  std::vector<std::string> hyps;
  for (const auto& r : refs) hyps.push_back(hypothesis(r));
  const double pairs = static_cast<double>(refs.size());
  budget.min_reps = 3;
  budget.min_time_s = 0;

  double rouge_sum = 0;
  const double rouge_s = bench::median_times({[&] {
                                               rouge_sum = 0;
                                               for (std::size_t i = 0; i < refs.size(); ++i)
                                                 rouge_sum += metrics::rouge_scores(refs[i], hyps[i]).rougeL.fmeasure;
                                             }},
                                             budget)[0];
  std::fprintf(stderr, "[text] mean ROUGE-L F %.6f\n", rouge_sum / pairs);
  bench::emit({.bench = "rouge_1_2_L", .shape = shape, .dtype = "f64", .threads = 1, .molm = pairs / rouge_s,
               .peer = peers.get("rouge_1_2_L", shape, "f64"), .peer_name = "rouge-score 0.1.2 RougeScorer",
               .unit = "pairs/s", .limit = {}});

  if (fs::exists(metrics::WordNet::default_dir() / "index.noun")) {
    const metrics::WordNet& wn = metrics::WordNet::shared();
    std::vector<std::vector<std::string>> ref_tokens, hyp_tokens;
    for (std::size_t i = 0; i < refs.size(); ++i)
      ref_tokens.push_back(metrics::python_split(refs[i])), hyp_tokens.push_back(metrics::python_split(hyps[i]));
    double meteor_sum = 0;
    const double meteor_s = bench::median_times({[&] {
                                                  meteor_sum = 0;
                                                  for (std::size_t i = 0; i < refs.size(); ++i)
                                                    meteor_sum +=
                                                        metrics::meteor_score({ref_tokens[i]}, hyp_tokens[i], wn);
                                                }},
                                                budget)[0];
    std::fprintf(stderr, "[text] mean METEOR %.6f\n", meteor_sum / pairs);
    bench::emit({.bench = "meteor", .shape = shape, .dtype = "f64", .threads = 1, .molm = pairs / meteor_s,
                 .peer = peers.get("meteor", shape, "f64"), .peer_name = "nltk 3.8.1 meteor_score",
                 .unit = "pairs/s", .limit = {}});
  } else {
    std::fprintf(stderr, "[text] WordNet is absent: METEOR figure skipped\n");
  }
  if (sink == 0) std::fprintf(stderr, "[text] no tokens at all?\n");
}
