// core/utf8.hpp: what is well-formed (overlong forms, surrogates, truncated sequences, beyond
// U+10FFFF, stray continuation bytes), both replacement policies on the same bad input (the
// maximal-subpart answers are Python 3.11's bytes.decode("utf-8", errors="replace")), encoding at
// every length boundary, round trips over all scalar values, escaping, and random bytes.
#include "support/testing.hpp"

#include <molm/core/utf8.hpp>

#include <random>

using namespace molm;
using utf8::Replacement;

namespace {

constexpr char32_t R = utf8::kReplacementChar;

std::u32string per_byte(std::string_view s) { return utf8::decode(s, Replacement::per_byte); }
std::u32string python(std::string_view s) { return utf8::decode(s, Replacement::maximal_subpart); }

std::string hex(std::string_view s) {
  std::string out;
  for (const char c : s) out += fmt::format("{:02X} ", static_cast<unsigned char>(c));
  return out;
}

/// `s` is malformed: not valid, the first bad byte at `first_bad`, and decoded to the given code
/// points by each policy.
void check_malformed(std::string_view s, std::size_t first_bad, const std::u32string& want_per_byte,
                     const std::u32string& want_python) {
  INFO("bytes " << hex(s));
  CHECK_FALSE(utf8::is_valid(s));
  CHECK(utf8::first_invalid(s) == first_bad);
  CHECK(per_byte(s) == want_per_byte);
  CHECK(python(s) == want_python);
}

}  // namespace

TEST_CASE("utf8: well-formed sequences of every length decode to their code point", "[core][utf8]") {
  const struct {
    std::string_view bytes;
    char32_t cp;
  } cases[] = {{"\x00", 0},
               {"A", U'A'},
               {"\x7F", 0x7F},
               {"\xC2\x80", 0x80},
               {"\xC3\xA9", 0xE9},
               {"\xDF\xBF", 0x7FF},
               {"\xE0\xA0\x80", 0x800},  // smallest three-byte form
               {"\xE2\x82\xAC", 0x20AC},
               {"\xED\x9F\xBF", 0xD7FF},  // just below the surrogates
               {"\xEE\x80\x80", 0xE000},  // just above them
               {"\xEF\xBF\xBD", 0xFFFD},
               {"\xEF\xBF\xBF", 0xFFFF},
               {"\xF0\x90\x80\x80", 0x10000},  // smallest four-byte form
               {"\xF0\x9F\x98\x80", 0x1F600},
               {"\xF4\x8F\xBF\xBF", 0x10FFFF}};  // the last code point
  for (const auto& c : cases) {
    const std::string_view s = c.bytes.empty() ? std::string_view("\0", 1) : c.bytes;
    INFO("bytes " << hex(s));
    const utf8::Decoded d = utf8::decode_at(s, 0);
    CHECK(d.valid);
    CHECK(d.cp == c.cp);
    CHECK(d.length == s.size());
    CHECK(utf8::sequence_length(s, 0) == s.size());
    CHECK(utf8::is_valid(s));
    CHECK(utf8::first_invalid(s) == std::string_view::npos);
    CHECK(per_byte(s) == std::u32string(1, c.cp));
    CHECK(python(s) == std::u32string(1, c.cp));
    std::string encoded;
    CHECK(utf8::append(encoded, c.cp) == s.size());
    CHECK(encoded == s);
  }
  static_assert(utf8::is_valid("caf\xC3\xA9"));
  static_assert(utf8::first_invalid("ok\xFF") == 2);
  static_assert(utf8::decode_at("\xE2\x82\xAC", 0).cp == 0x20AC);
}

TEST_CASE("utf8: overlong forms are malformed", "[core][utf8]") {
  // C0 and C1 can only start overlong two-byte forms, so neither starts a sequence at all.
  check_malformed("\xC0\x80", 0, {R, R}, {R, R});  // U+0000 in two bytes ("modified UTF-8")
  check_malformed("\xC0\xAF", 0, {R, R}, {R, R});  // '/' in two bytes
  check_malformed("\xC1\xBF", 0, {R, R}, {R, R});
  // E0 needs A0..BF next and F0 needs 90..BF: below, the value would fit in fewer bytes.
  check_malformed("\xE0\x80\x80", 0, {R, R, R}, {R, R, R});
  check_malformed("\xE0\x9F\xBF", 0, {R, R, R}, {R, R, R});
  check_malformed("\xF0\x80\x80\x80", 0, {R, R, R, R}, {R, R, R, R});
  check_malformed("\xF0\x8F\xBF\xBF", 0, {R, R, R, R}, {R, R, R, R});
  CHECK(utf8::decode_at("\xE0\x9F\xBF", 0).length == 1);  // the maximal subpart is the lead byte alone
}

TEST_CASE("utf8: UTF-16 surrogates are malformed", "[core][utf8]") {
  check_malformed("\xED\xA0\x80", 0, {R, R, R}, {R, R, R});  // U+D800
  check_malformed("\xED\xBF\xBF", 0, {R, R, R}, {R, R, R});  // U+DFFF
  // CESU-8's pair for U+1F600: six bytes, six replacements under either policy.
  check_malformed("\xED\xA0\xBD\xED\xB8\x80", 0, std::u32string(6, R), std::u32string(6, R));
  check_malformed("x\xED\xB0\x80y", 1, {U'x', R, R, R, U'y'}, {U'x', R, R, R, U'y'});
}

TEST_CASE("utf8: truncated sequences: one U+FFFD per byte, or one per maximal subpart", "[core][utf8]") {
  // Cut off by the end of the text.
  check_malformed("\xC3", 0, {R}, {R});
  check_malformed("\xE2\x82", 0, {R, R}, {R});
  check_malformed("\xF0\x9F\x98", 0, {R, R, R}, {R});
  check_malformed("ab\xF0\x9F", 2, {U'a', U'b', R, R}, {U'a', U'b', R});
  // Cut off by a byte that cannot continue them, which then decodes on its own.
  check_malformed("\xE2\x82" "A", 0, {R, R, U'A'}, {R, U'A'});
  check_malformed("\xF0\x9F\x98" "A", 0, {R, R, R, U'A'}, {R, U'A'});
  check_malformed("\xC3\xC3\xA9", 0, {R, 0xE9}, {R, 0xE9});
  check_malformed("\xE2\xE2\x82\xAC", 0, {R, 0x20AC}, {R, 0x20AC});
  // A stray continuation byte.
  check_malformed("a\x80" "b", 1, {U'a', R, U'b'}, {U'a', R, U'b'});
  check_malformed("\xBF\xBF", 0, {R, R}, {R, R});
  // The Unicode standard's own example (§3.9, U+FFFD substitution of maximal subparts).
  check_malformed("\xF1\x80\x80\xE1\x80\xC2" "A", 0, {R, R, R, R, R, R, U'A'}, {R, R, R, U'A'});
  const utf8::Decoded d = utf8::decode_at("\xF0\x9F\x98" "A", 0);
  CHECK_FALSE(d.valid);
  CHECK(d.cp == R);
  CHECK(d.length == 3);
  CHECK(utf8::sequence_length("\xF0\x9F\x98" "A", 0) == 0);
}

TEST_CASE("utf8: nothing above U+10FFFF", "[core][utf8]") {
  check_malformed("\xF4\x90\x80\x80", 0, {R, R, R, R}, {R, R, R, R});  // U+110000
  check_malformed("\xF5\x80\x80\x80", 0, {R, R, R, R}, {R, R, R, R});
  check_malformed("\xF7\xBF\xBF\xBF", 0, {R, R, R, R}, {R, R, R, R});  // U+1FFFFF
  check_malformed("\xF8\x88\x80\x80\x80", 0, std::u32string(5, R), std::u32string(5, R));  // old 5-byte form
  check_malformed("\xFE\xFF", 0, {R, R}, {R, R});
  // Encoding: a value with no UTF-8 form writes nothing.
  for (const char32_t cp : {char32_t(0x110000), char32_t(0x1FFFFF), char32_t(0x7FFFFFFF), char32_t(0xFFFFFFFF)}) {
    std::string out = "x";
    CHECK(utf8::append(out, cp) == 0);
    CHECK(out == "x");
  }
}

TEST_CASE("utf8: both policies on the same bad input", "[core][utf8]") {
  // Truncated emoji, a valid euro sign, a surrogate, an overlong '/', a truncated euro sign at the end.
  const std::string_view s = "a\xF0\x9F\x98" "b\xE2\x82\xAC" "c\xED\xA0\x80" "d\xC0\xAF\xE2\x82";
  CHECK(per_byte(s) == std::u32string{U'a', R, R, R, U'b', 0x20AC, U'c', R, R, R, U'd', R, R, R, R});
  // Python: b'a\xf0\x9f\x98b\xe2\x82\xacc\xed\xa0\x80d\xc0\xaf\xe2\x82'.decode('utf-8', 'replace')
  CHECK(python(s) == std::u32string{U'a', R, U'b', 0x20AC, U'c', R, R, R, U'd', R, R, R});
  CHECK(utf8::first_invalid(s) == 1);
  // Re-encoding either gives valid UTF-8 that keeps every well-formed character.
  for (const auto& cps : {per_byte(s), python(s)}) {
    const std::string back = utf8::encode(cps);
    CHECK(utf8::is_valid(back));
    CHECK(back.find("\xE2\x82\xAC") != std::string::npos);
  }
}

TEST_CASE("utf8: encode at every length boundary, and surrogates as three bytes", "[core][utf8]") {
  const struct {
    char32_t cp;
    std::size_t bytes;
  } cases[] = {{0x7F, 1}, {0x80, 2}, {0x7FF, 2}, {0x800, 3}, {0xFFFF, 3}, {0x10000, 4}, {0x10FFFF, 4}};
  for (const auto& c : cases) {
    std::string out;
    CHECK(utf8::append(out, c.cp) == c.bytes);
    CHECK(out.size() == c.bytes);
  }
  // A lone surrogate has three bytes (as utf8proc_encode_char writes it), which are not valid UTF-8
  // and decode back to replacements, never to the surrogate.
  const std::string sur = utf8::encode(std::u32string{0xD800});
  CHECK(sur == "\xED\xA0\x80");
  CHECK_FALSE(utf8::is_valid(sur));
  CHECK(per_byte(sur) == std::u32string{R, R, R});
}

TEST_CASE("utf8: every scalar value round-trips through encode and decode", "[core][utf8]") {
  std::u32string all;
  for (char32_t cp = 0; cp <= utf8::kMaxCodePoint; ++cp)
    if (cp < 0xD800 || cp > 0xDFFF) all.push_back(cp);
  const std::string bytes = utf8::encode(all);
  CHECK(bytes.size() == 0x80 * 1 + 0x780 * 2 + (0x10000 - 0x800 - 0x800) * 3 + 0x100000 * 4);
  CHECK(utf8::is_valid(bytes));
  CHECK(per_byte(bytes) == all);
  CHECK(python(bytes) == all);
  // One at a time: decode_at sees exactly the bytes append wrote.
  std::size_t mismatches = 0;
  for (const char32_t cp : all) {
    std::string one;
    const std::size_t n = utf8::append(one, cp);
    const utf8::Decoded d = utf8::decode_at(one, 0);
    if (!d.valid || d.cp != cp || d.length != n) ++mismatches;
  }
  CHECK(mismatches == 0);
}

TEST_CASE("utf8: escape writes bad bytes and control bytes as \\xNN and keeps the rest", "[core][utf8]") {
  CHECK(utf8::escape("caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80") == "caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80");
  CHECK(utf8::escape("a\xE9z") == "a\\xE9z");  // Latin-1 é
  CHECK(utf8::escape("\xC0\xAF") == "\\xC0\\xAF");
  CHECK(utf8::escape("\xED\xA0\x80") == "\\xED\\xA0\\x80");
  CHECK(utf8::escape("\xE2\x82") == "\\xE2\\x82");
  CHECK(utf8::escape("\xF4\x90\x80\x80") == "\\xF4\\x90\\x80\\x80");
  CHECK(utf8::escape(std::string_view("a\0b", 3)) == "a\\x00b");
  CHECK(utf8::escape("tab\tnew\nline\r\x1B[0m\x7F") == "tab\tnew\nline\\x0D\\x1B[0m\x7F");
}

TEST_CASE("utf8: random bytes: the policies agree on what is valid and differ only in how many U+FFFD",
          "[core][utf8]") {
  std::mt19937 rng(20240514);
  // Bytes biased to the interesting ones: lead bytes, the edges of the continuation ranges, ASCII.
  const unsigned char pool[] = {0x00, 0x41, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xC1, 0xC2,
                                0xDF, 0xE0, 0xE1, 0xED, 0xEF, 0xF0, 0xF1, 0xF4, 0xF5, 0xFF};
  std::uniform_int_distribution<int> pick(0, static_cast<int>(sizeof pool) - 1), len(0, 12);
  for (int trial = 0; trial < 20000; ++trial) {
    std::string s;
    for (int n = len(rng); n > 0; --n) s.push_back(static_cast<char>(pool[pick(rng)]));
    INFO("bytes " << hex(s));
    const std::u32string a = per_byte(s), b = python(s);
    const bool valid = utf8::is_valid(s);
    REQUIRE(valid == (utf8::first_invalid(s) == std::string_view::npos));
    REQUIRE((utf8::escape(s) == s) == (valid && s.find('\0') == std::string::npos));  // 0x00: the pool's control byte
    REQUIRE(utf8::is_valid(utf8::escape(s)));
    if (valid) {
      REQUIRE(a == b);
      REQUIRE(utf8::encode(a) == s);
    } else {
      // A maximal subpart spans one or more bytes, each of which per_byte replaces on its own.
      REQUIRE(a.size() >= b.size());
      REQUIRE(std::count(a.begin(), a.end(), R) >= std::count(b.begin(), b.end(), R));
    }
    // Without the replacements, both keep the same well-formed characters in the same order.
    std::u32string ka, kb;
    std::copy_if(a.begin(), a.end(), std::back_inserter(ka), [](char32_t c) { return c != R; });
    std::copy_if(b.begin(), b.end(), std::back_inserter(kb), [](char32_t c) { return c != R; });
    REQUIRE(ka == kb);
  }
}
