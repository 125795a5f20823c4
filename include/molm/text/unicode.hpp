// The pieces of Unicode the tokenizers need, with Python's semantics where Transformers relies on
// them: UTF-8 <-> code points (core/utf8.hpp), general categories, NFC/NFD (libutf8proc), `str.lower()` of one
// character and `str.isspace()`.
//
//   std::u32string cps = text::decode_utf8("Ångström");
//   text::category(U'Å');            // "Lu"
//   text::nfd(cps);                  // A + U+030A, ...
//
// utf8proc 2.8 carries Unicode 15.0 and Python 3.11's unicodedata (what Transformers calls) Unicode
// 14.0. Over all code points the two agree on lower-casing, NFD and NFC and differ only in the
// category of the 4,489 characters new in 15.0, which Python calls unassigned ("Cn", so BERT's
// cleaner drops them): category() says "Cn" for them too.
#pragma once

#include "molm/core/error.hpp"
#include "molm/core/utf8.hpp"

#include <utf8proc.h>

#include <cstdint>
#include <cstdlib>
#include <iterator>
#include <memory>
#include <string>
#include <string_view>

namespace molm::text {

inline constexpr char32_t kReplacementChar = utf8::kReplacementChar;

/// Code points of UTF-8 text. A malformed sequence becomes one U+FFFD per byte at which decoding fails
/// (core/utf8.hpp's Replacement::per_byte, utf8proc_iterate's convention), which the BERT cleaner
/// then drops; Python never sees such text, as its strings are always valid. The metrics decode the
/// other way, as Python's errors="replace" does: core/utf8.hpp says why.
inline std::u32string decode_utf8(std::string_view text) { return utf8::decode(text, utf8::Replacement::per_byte); }

inline void append_utf8(std::string& out, char32_t cp) { utf8::append(out, cp); }

inline std::string encode_utf8(std::u32string_view cps) { return utf8::encode(cps); }

/// Characters assigned in Unicode 15.0 (utf8proc 2.8 knows them, Python 3.11 does not). Found by
/// comparing utf8proc_category with unicodedata.category over all code points.
inline bool assigned_after_unicode_14(char32_t cp) {
  static constexpr char32_t ranges[][2] = {
      {0x0CF3, 0x0CF3},   {0x0ECE, 0x0ECE},   {0x10EFD, 0x10EFF}, {0x1123F, 0x11241}, {0x11B00, 0x11B09},
      {0x11F00, 0x11F10}, {0x11F12, 0x11F3A}, {0x11F3E, 0x11F59}, {0x1342F, 0x1342F}, {0x13439, 0x13455},
      {0x1B132, 0x1B132}, {0x1B155, 0x1B155}, {0x1D2C0, 0x1D2D3}, {0x1DF25, 0x1DF2A}, {0x1E030, 0x1E06D},
      {0x1E08F, 0x1E08F}, {0x1E4D0, 0x1E4F9}, {0x1F6DC, 0x1F6DC}, {0x1F774, 0x1F776}, {0x1F77B, 0x1F77F},
      {0x1F7D9, 0x1F7D9}, {0x1FA75, 0x1FA77}, {0x1FA87, 0x1FA88}, {0x1FAAD, 0x1FAAF}, {0x1FABB, 0x1FABD},
      {0x1FABF, 0x1FABF}, {0x1FACE, 0x1FACF}, {0x1FADA, 0x1FADB}, {0x1FAE8, 0x1FAE8}, {0x1FAF7, 0x1FAF8},
      {0x2B739, 0x2B739}, {0x31350, 0x323AF}};
  if (cp < 0x0CF3) return false;
  for (const auto& r : ranges)
    if (cp >= r[0] && cp <= r[1]) return true;
  return false;
}

/// Two-letter general category as Python 3.11's unicodedata.category spells it ("Cn" when unassigned).
inline std::string_view category(char32_t cp) {
  if (assigned_after_unicode_14(cp)) return "Cn";
  static constexpr std::string_view names[] = {"Cn", "Lu", "Ll", "Lt", "Lm", "Lo", "Mn", "Mc", "Me", "Nd",
                                               "Nl", "No", "Pc", "Pd", "Ps", "Pe", "Pi", "Pf", "Po", "Sm",
                                               "Sc", "Sk", "So", "Zs", "Zl", "Zp", "Cc", "Cf", "Cs", "Co"};
  const int c = utf8proc_category(static_cast<utf8proc_int32_t>(cp));
  return c >= 0 && c < int(std::size(names)) ? names[c] : "Cn";
}

/// Python's `str.isspace()` for one character (what `str.split()` and `str.strip()` split on):
/// bidirectional class WS, B or S, or category Zs.
inline bool is_python_space(char32_t cp) {
  return (cp >= 0x09 && cp <= 0x0D) || (cp >= 0x1C && cp <= 0x20) || cp == 0x85 || cp == 0xA0 || cp == 0x1680 ||
         (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F ||
         cp == 0x3000;
}

/// Python's `c.lower()` for a single character `c`: the full lower-case mapping, which differs from
/// the simple one only for U+0130 (İ → i + U+0307). Final-sigma handling needs context and cannot
/// arise for a single character.
inline void append_python_lower(std::u32string& out, char32_t cp) {
  if (cp == 0x130) {
    out.push_back(U'i');
    out.push_back(0x307);
    return;
  }
  out.push_back(static_cast<char32_t>(utf8proc_tolower(static_cast<utf8proc_int32_t>(cp))));
}

namespace detail {
inline std::u32string utf8proc_normalize(std::u32string_view cps, int options, const char* form) {
  const std::string bytes = encode_utf8(cps);
  utf8proc_uint8_t* result = nullptr;
  const utf8proc_ssize_t n = utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(bytes.data()),
                                          static_cast<utf8proc_ssize_t>(bytes.size()), &result,
                                          static_cast<utf8proc_option_t>(options));
  MOLM_CHECK(n >= 0, "text", "{} normalisation failed: {}", form, utf8proc_errmsg(n));
  const std::unique_ptr<utf8proc_uint8_t, decltype(&std::free)> owned(result, &std::free);
  return decode_utf8(std::string_view(reinterpret_cast<const char*>(result), static_cast<std::size_t>(n)));
}
}  // namespace detail

/// Canonical decomposition (unicodedata.normalize("NFD", ...)).
inline std::u32string nfd(std::u32string_view cps) {
  return detail::utf8proc_normalize(cps, UTF8PROC_STABLE | UTF8PROC_DECOMPOSE, "NFD");
}

/// Canonical composition (unicodedata.normalize("NFC", ...)).
inline std::u32string nfc(std::u32string_view cps) {
  return detail::utf8proc_normalize(cps, UTF8PROC_STABLE | UTF8PROC_COMPOSE, "NFC");
}

}  // namespace molm::text
