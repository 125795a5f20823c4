// The three things the caption metrics do to text that Python's str does differently from bytes:
// decoding UTF-8 to code points, str.lower() and str.split(). NLTK and rouge-score work on Python
// strings, so a token's length, its characters and its lower-case form are counted in code points
// with Python's (3.11, Unicode 14.0) tables — not bytes, not the C locale. The tables are generated
// from Python itself (scripts/gen_metrics_unicode_tables.py).
#pragma once

#include "molm/core/utf8.hpp"
#include "molm/metrics/unicode_tables.hpp"

#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace molm::metrics {

/// UTF-8 → code points. Malformed bytes become U+FFFD, one per maximal subpart of a bad sequence,
/// as Python's bytes.decode("utf-8", errors="replace") does (the form model outputs reach Python in):
/// core/utf8.hpp's Replacement::maximal_subpart, and there why the tokenizers count differently.
inline std::u32string utf8_decode(std::string_view s) { return utf8::decode(s, utf8::Replacement::maximal_subpart); }

inline void utf8_append(std::string& out, char32_t c) { utf8::append(out, c); }

inline std::string utf8_encode(std::u32string_view s) { return utf8::encode(s); }

namespace detail {
template <class Table>
bool in_ranges(const Table& table, char32_t c) {
  auto it = std::upper_bound(std::begin(table), std::end(table), c,
                             [](char32_t v, const auto& r) { return v < r.first; });
  return it != std::begin(table) && c <= std::prev(it)->last;
}

/// Python's simple lower-case mapping of one code point (U+0130 is handled by the caller).
inline char32_t lower_simple(char32_t c) {
  if (c < 0x80) return (c >= 'A' && c <= 'Z') ? c + 32 : c;
  const auto& t = unicode_tables::kLower;
  auto it = std::upper_bound(std::begin(t), std::end(t), c, [](char32_t v, const auto& r) { return v < r.first; });
  if (it == std::begin(t)) return c;
  const auto& r = *std::prev(it);
  if (c > r.last || (r.stride == 2 && (c - r.first) % 2 != 0)) return c;
  return static_cast<char32_t>(static_cast<std::int64_t>(c) + r.delta);
}

/// Python's Final_Sigma test for the capital sigma at s[i] (unicodeobject.c handle_capital_sigma).
inline bool is_final_sigma(std::u32string_view s, std::size_t i) {
  std::size_t j = i;
  while (j > 0 && in_ranges(unicode_tables::kCaseIgnorable, s[j - 1])) --j;
  if (j == 0 || !in_ranges(unicode_tables::kCasedStrict, s[j - 1])) return false;
  j = i + 1;
  while (j < s.size() && in_ranges(unicode_tables::kCaseIgnorable, s[j])) ++j;
  return j == s.size() || !in_ranges(unicode_tables::kCasedStrict, s[j]);
}
}  // namespace detail

/// Python's str.lower() on code points (full mapping: U+0130 → "i̇", final sigma → ς).
inline std::u32string python_lower(std::u32string_view s) {
  std::u32string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char32_t c = s[i];
    if (c == 0x130) {
      out.push_back(U'i');
      out.push_back(0x307);
    } else if (c == 0x3A3) {
      out.push_back(detail::is_final_sigma(s, i) ? 0x3C2 : 0x3C3);
    } else {
      out.push_back(detail::lower_simple(c));
    }
  }
  return out;
}

/// Python's str.lower() on UTF-8 text.
inline std::string python_lower(std::string_view s) {
  bool ascii = true;
  for (unsigned char c : s) ascii = ascii && c < 0x80;
  if (ascii) {  // the common case, byte for byte
    std::string out(s);
    for (char& c : out)
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
    return out;
  }
  return utf8_encode(python_lower(utf8_decode(s)));
}

inline bool python_isspace(char32_t c) {
  if (c < 0x80) return c == ' ' || (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x1F);
  return std::binary_search(std::begin(unicode_tables::kSpace), std::end(unicode_tables::kSpace),
                            static_cast<std::uint32_t>(c));
}

/// Python's str.split() without arguments: runs of Unicode white space separate, none are kept.
/// This is the "whitespace convention" for BLEU/METEOR tokens.
inline std::vector<std::string> python_split(std::string_view s) {
  std::vector<std::string> out;
  const std::u32string u = utf8_decode(s);
  std::u32string word;
  for (char32_t c : u) {
    if (python_isspace(c)) {
      if (!word.empty()) out.push_back(utf8_encode(word)), word.clear();
    } else {
      word.push_back(c);
    }
  }
  if (!word.empty()) out.push_back(utf8_encode(word));
  return out;
}

}  // namespace molm::metrics
