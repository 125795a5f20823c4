// text/llama_tokenizer.hpp, text/added_tokens.hpp and text/prompt.hpp without shared data: a tiny
// SentencePiece BPE model trained with Llama's settings (tests/golden/data/tokenizers/tiny_sp.model)
// against transformers 4.35.2's LlamaTokenizer configured as 3D-MoLM configures it
// (tests/golden/gen_tokenizers.py). parity_test.cpp does the same on the real Llama-2 model.
#include "support/testing.hpp"

#include <molm/text/llama_tokenizer.hpp>
#include <molm/text/prompt.hpp>

#include <nlohmann/json.hpp>

using namespace molm;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

fs::path golden(const std::string& f) { return testing::golden_dir() / "tokenizers" / f; }

const text::LlamaTokenizer& tiny() {
  static const auto t = text::LlamaTokenizer::from_file(golden("tiny_sp.model"));
  return t;
}

using Pieces = std::vector<std::string>;
using Ids = std::vector<std::int64_t>;
const std::string kSpace = "\xE2\x96\x81";  // ▁

}  // namespace

TEST_CASE("llama tokenizer: the tiny model gives transformers' ids on every tricky string") {
  const json cases = json::parse(testing::read_file(golden("tiny.json")));
  REQUIRE(cases.size() == 57);
  for (const auto& c : cases) {
    INFO(c["text"].dump());
    CHECK(tiny().encode(c["text"].get<std::string>()) == c["llama"].get<Ids>());
  }
}

TEST_CASE("llama tokenizer: the reference's added tokens and ids (§5.2)") {
  const auto& t = tiny();
  const auto n = t.vocab_size();
  CHECK(t.pad_id() == n);
  CHECK(t.mol_id() == n + 1);
  CHECK(t.size() == n + 2);
  CHECK((t.bos_id() == 2 && t.eos_id() == 2 && t.unk_id() == 2));
  CHECK(t.token_to_id("<mol>") == n + 1);
  CHECK(t.token_to_id("<s>") == 1);  // still an added token, no longer special
  CHECK(t.encode("x", false).front() != 2);
  CHECK(t.encode("x").front() == 2);
  const auto plain = text::LlamaTokenizer::from_file(golden("tiny_sp.model"), text::LlamaConvention::plain);
  CHECK(plain.bos_id() == 1);
  CHECK(!plain.mol_id());
  CHECK(plain.size() == n);
  CHECK(plain.tokenize("<mol>").size() > 1);  // plain: just text
}

TEST_CASE("llama tokenizer: legacy splitting, each chunk with its own ▁") {
  const auto& t = tiny();
  // the chunks around the added tokens are encoded separately ...
  Pieces expected = t.tokenize("C ");
  expected.insert(expected.end(), {"<mol>", "<mol>"});
  const auto tail = t.tokenize(".");
  expected.insert(expected.end(), tail.begin(), tail.end());
  CHECK(t.tokenize("C <mol><mol>.") == expected);
  // ... each with the dummy prefix: a trailing space ends in a lone ▁, the text after <mol> starts with ▁
  CHECK(t.tokenize("C ").back() == kSpace);
  CHECK(tail.front().rfind(kSpace, 0) == 0);
  CHECK(t.tokenize("").empty());
  CHECK(t.encode("") == Ids{2});
}

TEST_CASE("llama tokenizer: decode drops the special tokens") {
  const auto& t = tiny();
  const auto ids = t.encode("the acid <mol><mol> is");
  CHECK(t.decode(ids) == "the acid   is");
  CHECK(t.decode(ids, false).find("<mol> <mol>") != std::string::npos);
  CHECK(testing::error_of([&] { t.decode({t.size() + 5}); }).find("outside") != std::string::npos);
}

TEST_CASE("llama tokenizer: truncation keeps bos, padding uses [PAD]") {
  const auto& t = tiny();
  const auto full = t.encode("the molecule is an acid");
  const auto e = t.encode("the molecule is an acid", {.max_length = 3});
  CHECK(e.ids == Ids(full.begin(), full.begin() + 3));
  const auto p = t.encode("the", {.max_length = 8, .pad_to_max_length = true, .padding_side = text::PaddingSide::left});
  CHECK(p.ids.size() == 8);
  CHECK(p.ids.front() == *t.pad_id());
  CHECK(p.attention_mask.front() == 0);
  CHECK(p.attention_mask.back() == 1);
  const auto plain = text::LlamaTokenizer::from_file(golden("tiny_sp.model"), text::LlamaConvention::plain);
  CHECK(testing::error_of([&] { plain.encode("the", {.max_length = 8, .pad_to_max_length = true}); })
            .find("pad token") != std::string::npos);
}

TEST_CASE("llama tokenizer: a missing model file is an error naming it") {
  CHECK(testing::error_of([] { text::LlamaTokenizer::from_file("/nonexistent/tokenizer.model"); })
            .find("/nonexistent/tokenizer.model") != std::string::npos);
}

TEST_CASE("added tokens: leftmost, longest, case-sensitive; lstrip/rstrip strip Python whitespace") {
  text::AddedTokens added;
  added.add({.content = "<mol>", .id = 10});
  added.add({.content = "<mol>>", .id = 11});
  added.add({.content = "[X]", .id = 12, .lstrip = true, .rstrip = true});
  const auto parts = added.split("a<mol>><MOL>b \xC2\xA0[X]\t c[X]");
  std::vector<std::string> texts;
  for (const auto& p : parts) texts.push_back(p.token ? "#" + p.text : p.text);
  CHECK(texts == Pieces{"a", "#<mol>>", "<MOL>b", "#[X]", "c", "#[X]"});
}

TEST_CASE("prompt: the §5.4 template, SMILES cut to 96 and instructions to 64 code points") {
  const std::string smiles(120, 'C');
  const auto p = text::reference_prompt(text::kCaptionInstruction, smiles);
  CHECK(p == "Below is an instruction that describes a task, paired with an input molecule. Write a response that "
             "appropriately completes the request.\nInstruction: Describe the input molecule.\nInput molecule: " +
                 std::string(96, 'C') + " <mol><mol><mol><mol><mol><mol><mol><mol>.\nResponse: ");
  const std::string question = "Describe the β-lactam ring of this molecule and its role in antibiotic activity.";
  const auto cut = text::reference_prompt(question, "CCO", {.instruction_chars = 64});
  CHECK(cut.find("Instruction: " + text::first_code_points(question, 64) + "\n") != std::string::npos);
  CHECK(text::decode_utf8(text::first_code_points(question, 64)).size() == 64);
  // the committed prompts of tests/golden/gen_tokenizers.py, rebuilt from their parts
  const json expected = json::parse(testing::read_file(golden("expected.json")));
  std::size_t cut_smiles = 0;
  for (const auto& c : expected["prompts"]) {
    text::PromptOptions options;
    if (!c["instruction_chars"].is_null()) options.instruction_chars = c["instruction_chars"].get<std::size_t>();
    CHECK(text::reference_prompt(c["instruction"].get<std::string>(), c["smiles"].get<std::string>(), options) ==
          c["prompt"].get<std::string>());
    cut_smiles += c["smiles"].get<std::string>().size() > 96;
  }
  CHECK(cut_smiles >= 2);  // the fixture exercises the cut
}
