// The three things the caption metrics do to text that Python's str does differently from bytes:
// decoding UTF-8 to code points, str.lower() and str.split(). NLTK and rouge-score work on Python
// strings, so a token's length, its characters and its lower-case form are counted in code points
// with Python's (3.11, Unicode 14.0) tables — not bytes, not the C locale. The tables are generated
// from Python itself (scripts/gen_metrics_unicode_tables.py).
#pragma once

#include "molm/metrics/unicode_tables.hpp"

#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace molm::metrics {

/// UTF-8 → code points. Malformed bytes become U+FFFD, one per maximal bad subsequence start, as
/// Python's bytes.decode("utf-8", errors="replace") does (the form model outputs reach Python in).
inline std::u32string utf8_decode(std::string_view s) {
  std::u32string out;
  out.reserve(s.size());
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const std::size_t n = s.size();
  std::size_t i = 0;
  while (i < n) {
    const unsigned char b = p[i];
    if (b < 0x80) {
      out.push_back(b);
      ++i;
      continue;
    }
    int len = 0;
    char32_t cp = 0;
    unsigned char lo = 0x80, hi = 0xBF;  // the allowed range of the second byte
    if (b >= 0xC2 && b <= 0xDF) len = 2, cp = b & 0x1F;
    else if (b >= 0xE0 && b <= 0xEF) len = 3, cp = b & 0x0F, lo = b == 0xE0 ? 0xA0 : 0x80, hi = b == 0xED ? 0x9F : 0xBF;
    else if (b >= 0xF0 && b <= 0xF4) len = 4, cp = b & 0x07, lo = b == 0xF0 ? 0x90 : 0x80, hi = b == 0xF4 ? 0x8F : 0xBF;
    if (len == 0) {
      out.push_back(0xFFFD);
      ++i;
      continue;
    }
    int k = 1;
    for (; k < len && i + k < n; ++k) {
      const unsigned char c = p[i + k];
      if (c < (k == 1 ? lo : 0x80) || c > (k == 1 ? hi : 0xBF)) break;
      cp = (cp << 6) | (c & 0x3F);
    }
    if (k < len) {
      out.push_back(0xFFFD);  // a truncated sequence is replaced as a whole
      i += k;
      continue;
    }
    out.push_back(cp);
    i += len;
  }
  return out;
}

inline void utf8_append(std::string& out, char32_t c) {
  if (c < 0x80) {
    out.push_back(static_cast<char>(c));
  } else if (c < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (c >> 6)));
    out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
  } else if (c < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (c >> 12)));
    out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (c >> 18)));
    out.push_back(static_cast<char>(0x80 | ((c >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
  }
}

inline std::string utf8_encode(std::u32string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char32_t c : s) utf8_append(out, c);
  return out;
}

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
