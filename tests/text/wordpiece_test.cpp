// text/wordpiece.hpp on the committed tiny vocabulary (tests/golden/data/tokenizers/tiny_vocab.txt)
// against transformers 4.35.2's BertTokenizer (tests/golden/gen_tokenizers.py), plus the rules one
// by one. Needs no shared data; parity_test.cpp does the same on SciBERT's real vocabulary.
#include "support/testing.hpp"

#include <molm/text/wordpiece.hpp>

#include <nlohmann/json.hpp>

#include <fstream>

using namespace molm;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

fs::path golden(const std::string& f) { return testing::golden_dir() / "tokenizers" / f; }

text::WordPieceTokenizer tiny(bool lower = true) {
  auto t = text::WordPieceTokenizer::from_file(golden("tiny_vocab.txt"), {.lower_case = lower});
  t.add_special_token("[DEC]");
  return t;
}

text::WordPieceTokenizer from_tokens(std::vector<std::string> vocab, text::WordPieceOptions options = {}) {
  return text::WordPieceTokenizer(std::move(vocab), options);
}

std::vector<std::string> pieces(const text::WordPieceTokenizer& t, const std::string& s) { return t.tokenize(s); }
using Pieces = std::vector<std::string>;

}  // namespace

TEST_CASE("wordpiece: the tiny vocabulary gives transformers' ids on every tricky string") {
  const auto t = tiny();
  const json cases = json::parse(testing::read_file(golden("tiny.json")));
  REQUIRE(cases.size() == 57);
  for (const auto& c : cases) {
    INFO(c["text"].dump());
    CHECK(t.encode(c["text"].get<std::string>()) == c["bert"].get<std::vector<std::int64_t>>());
  }
}

TEST_CASE("wordpiece: special ids come from the vocabulary; [DEC] is appended after it") {
  const auto t = tiny();
  CHECK(t.pad_id() == 0);
  CHECK(t.unk_id() == 2);
  CHECK(t.cls_id() == 3);
  CHECK(t.sep_id() == 4);
  CHECK(t.mask_id() == 5);
  CHECK(t.token_to_id("[DEC]") == std::int64_t(t.vocab_size()));
  CHECK(t.size() == t.vocab_size() + 1);
  CHECK(t.id_to_token(std::int64_t(t.vocab_size())) == "[DEC]");
  CHECK(t.token_to_id("no-such-token") == t.unk_id());
  // a vocabulary without BERT's specials gets them appended in Transformers' order
  const auto bare = from_tokens({"a", "b"});
  CHECK(bare.unk_id() == 2);
  CHECK(bare.sep_id() == 3);
  CHECK(bare.pad_id() == 4);
  CHECK(bare.cls_id() == 5);
  CHECK(bare.mask_id() == 6);
}

TEST_CASE("wordpiece: greedy longest match first with ## continuations") {
  const auto t = from_tokens({"[UNK]", "un", "##aff", "##able", "##a", "a", "##ff", "##ffable"});
  CHECK(pieces(t, "unaffable") == Pieces{"un", "##aff", "##able"});
  CHECK(pieces(t, "affable") == Pieces{"a", "##ffable"});
  CHECK(pieces(t, "unaffablex") == Pieces{"[UNK]"});  // one uncovered character spoils the word
  CHECK(pieces(t, "ffable") == Pieces{"[UNK]"});      // "##" pieces only continue a word
  CHECK(pieces(t, "a aa") == Pieces{"a", "a", "##a"});
}

TEST_CASE("wordpiece: words over 100 code points are one [UNK]; the limit counts code points") {
  const auto t = tiny();
  CHECK(pieces(t, std::string(100, 'a')).size() == 100);  // a ##a ##a ...
  CHECK(pieces(t, std::string(101, 'a')) == Pieces{"[UNK]"});
  std::string accented;  // 100 × "é": 200 bytes, 100 code points after accent stripping
  for (int i = 0; i < 100; ++i) accented += "\xC3\xA9";
  CHECK(pieces(t, accented).size() == 100);
  CHECK(pieces(t, accented + "\xC3\xA9") == Pieces{"[UNK]"});
}

TEST_CASE("wordpiece: cleaning, whitespace, punctuation and CJK") {
  const auto t = tiny();
  // NUL, U+FFFD and control/format characters vanish; \t \n \r and Zs separate words
  CHECK(pieces(t, std::string("a\0b", 3)) == Pieces{"a", "##b"});
  CHECK(pieces(t, "a\xEF\xBF\xBD" "b\x01" "c\xE2\x80\x8B" "d") == Pieces{"a", "##b", "##c", "##d"});
  // unassigned code points too, including those Unicode 15 assigned (Python 3.11 has Unicode 14)
  CHECK(pieces(t, "a\xCD\xB8" "b\xF0\x9E\x80\xB0" "c") == Pieces{"a", "##b", "##c"});  // U+0378, U+1E030
  CHECK(text::category(0x1E030) == "Cn");
  CHECK(text::category(0x1E02F) == "Cn");
  CHECK(text::category(U'a') == "Ll");
  CHECK(text::category(0x0301) == "Mn");
  CHECK(pieces(t, "a\tb\nc\rd\xC2\xA0" "e\xE3\x80\x80" "f") == Pieces{"a", "b", "c", "d", "e", "f"});
  // U+2028 (Zl) survives cleaning but Python's str.split() still splits on it
  CHECK(pieces(t, "a\xE2\x80\xA8" "b") == Pieces{"a", "b"});
  // ASCII symbols and Unicode P* split off one by one; `$` and `^` count as punctuation too
  CHECK(pieces(t, "(a)-b;c") == Pieces{"(", "a", ")", "-", "b", ";", "c"});
  CHECK(pieces(t, "a$b") == Pieces{"a", "[UNK]", "b"});
  // CJK ideographs become single-character words
  CHECK(pieces(t, "\xE4\xB8\xAD\xE6\x96\x87" "a") == Pieces{"中", "文", "a"});
}

TEST_CASE("wordpiece: lower-casing and accent stripping follow Python, case kept when cased") {
  const auto t = tiny();
  CHECK(pieces(t, "CAFÉ") == Pieces{"caf", "##e"});
  CHECK(pieces(t, "CAFE\xCC\x81") == Pieces{"caf", "##e"});  // decomposed accent
  CHECK(pieces(t, "ΟΣ") == Pieces{"[UNK]"});  // no "ο" in the tiny vocabulary
  CHECK(pieces(t, "Σ") == Pieces{"σ"});  // per-character lower(): never the final ς
  CHECK(pieces(t, "Ω") == Pieces{"ω"});
  const auto cased = tiny(false);
  CHECK(pieces(cased, "The") == Pieces{"[UNK]"});
  CHECK(pieces(cased, "the") == Pieces{"the"});
  CHECK(pieces(cased, "caf\xC3\xA9") == Pieces{"[UNK]"});  // accents kept when cased
}

TEST_CASE("wordpiece: special tokens are cut out first, never split or lower-cased") {
  const auto t = tiny();
  CHECK(pieces(t, "[DEC]the[CLS]") == Pieces{"[DEC]", "the", "[CLS]"});
  CHECK(pieces(t, "[dec]") == Pieces{"[", "d", "##e", "##c", "]"});
  const auto ids = t.encode("[DEC] the");
  CHECK(ids == std::vector<std::int64_t>{t.cls_id(), t.token_to_id("[DEC]"), t.token_to_id("the"), t.sep_id()});
}

TEST_CASE("wordpiece: truncation keeps [CLS] and [SEP], padding fills with [PAD]") {
  const auto t = tiny();
  const auto e = t.encode("the molecule is a", {.max_length = 4});
  CHECK(e.ids == std::vector<std::int64_t>{t.cls_id(), t.token_to_id("the"), t.token_to_id("molecule"), t.sep_id()});
  CHECK(e.attention_mask == std::vector<std::int64_t>{1, 1, 1, 1});
  const auto p = t.encode("the", {.max_length = 5, .pad_to_max_length = true});
  CHECK(p.ids == std::vector<std::int64_t>{t.cls_id(), t.token_to_id("the"), t.sep_id(), 0, 0});
  CHECK(p.attention_mask == std::vector<std::int64_t>{1, 1, 1, 0, 0});
  const auto left = t.encode("the", {.max_length = 4, .pad_to_max_length = true, .padding_side = text::PaddingSide::left});
  CHECK(left.ids == std::vector<std::int64_t>{0, t.cls_id(), t.token_to_id("the"), t.sep_id()});
  CHECK(testing::error_of([&] { t.encode("the", {.max_length = 1}); }).find("max_length 1") != std::string::npos);
}

TEST_CASE("wordpiece: vocabulary files") {
  const auto dir = testing::scratch_dir("wordpiece");
  std::ofstream(dir / "crlf.txt", std::ios::binary) << "[PAD]\r\n[UNK]\r\nthe\rcat";  // universal newlines
  const auto t = text::WordPieceTokenizer::from_file(dir / "crlf.txt");
  CHECK(t.vocab_size() == 4);
  CHECK(t.token_to_id("cat") == 3);
  CHECK(testing::error_of([&] { text::WordPieceTokenizer::from_file(dir / "missing.txt"); })
            .find("missing.txt") != std::string::npos);
}
