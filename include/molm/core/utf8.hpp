// UTF-8 in one place: validation, decoding (code point + length), encoding and escaping. Every
// layer that reads bytes as text (text/, metrics/, chem/, io/, data/) goes through these, so they all
// agree on what well-formed UTF-8 is: the Unicode Standard's (chapter 3, section 3.9, Table 3-7) — no overlong forms,
// no surrogates (U+D800..U+DFFF), nothing above U+10FFFF, no sequence cut off by the end.
//
//   utf8::is_valid("caf\xc3\xa9")                                   // true
//   utf8::decode("a\xe2\x82" "b", utf8::Replacement::per_byte)      // a, U+FFFD, U+FFFD, b
//   utf8::decode("a\xe2\x82" "b", utf8::Replacement::maximal_subpart)  // a, U+FFFD, b
//   utf8::encode(U"Σ℃")                                             // "Σ℃"
//   utf8::escape("a\xe9z")                                          // "a\\xE9z"
//
// What a malformed sequence decodes to is an explicit parameter, because two layers need two answers
// and each must keep its own:
//
//   Replacement::per_byte (text/: tokenizers). Decoding fails at a byte, gives one U+FFFD and resumes
//   at the next byte, so a truncated three-byte sequence "\xe2\x82" gives two U+FFFD. This is
//   libutf8proc's utf8proc_iterate convention, which the text layer used before this module. The
//   tokenizers mirror Transformers, whose input is a Python str and therefore never malformed: there
//   is no Python answer to match, only molm's own results (BERT's cleaner drops U+FFFD, `s[:n]` in the
//   prompt counts code points), which must not change from release to release.
//
//   Replacement::maximal_subpart (metrics/: BLEU, ROUGE, METEOR, property QA). One U+FFFD per
//   maximal subpart — the longest prefix of a well-formed sequence, or one byte where none starts —
//   which is what Python's bytes.decode("utf-8", errors="replace") does (and the Unicode Standard, section 3.9, recommends),
//   so "\xe2\x82" gives one U+FFFD. Model outputs reach NLTK and rouge-score through that call, and
//   the metrics count token lengths and characters in code points, so the number of U+FFFD must be
//   Python's for the scores to equal the Python packages'.
//
// On well-formed input the two policies give the same code points.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace molm::utf8 {

inline constexpr char32_t kReplacementChar = 0xFFFD;
inline constexpr char32_t kMaxCodePoint = 0x10FFFF;

/// What decode() makes of a malformed sequence (see the file comment for who uses which and why).
enum class Replacement {
  per_byte,         ///< one U+FFFD, resume at the next byte (text/; utf8proc_iterate's convention)
  maximal_subpart,  ///< one U+FFFD per maximal subpart (metrics/; Python's errors="replace")
};

/// One decoding step: the sequence that starts at a given byte.
struct Decoded {
  char32_t cp = kReplacementChar;  ///< the code point; U+FFFD where `valid` is false
  std::size_t length = 1;          ///< its bytes (1-4); where invalid, those of its maximal subpart (1-3)
  bool valid = false;
};

/// The sequence starting at s[i] (i < s.size()). A malformed one has `valid` false and, as length,
/// its maximal subpart: the bytes that are a prefix of some well-formed sequence (at least 1).
constexpr Decoded decode_at(std::string_view s, std::size_t i) noexcept {
  const auto b = static_cast<unsigned char>(s[i]);
  if (b < 0x80) return {b, 1, true};
  std::size_t len = 0;
  char32_t cp = 0;
  unsigned char lo = 0x80, hi = 0xBF;  // the allowed range of the second byte (Table 3-7)
  if (b >= 0xC2 && b <= 0xDF) {
    len = 2, cp = b & 0x1F;
  } else if (b >= 0xE0 && b <= 0xEF) {
    len = 3, cp = b & 0x0F;
    if (b == 0xE0) lo = 0xA0;       // below: overlong
    else if (b == 0xED) hi = 0x9F;  // above: surrogates
  } else if (b >= 0xF0 && b <= 0xF4) {
    len = 4, cp = b & 0x07;
    if (b == 0xF0) lo = 0x90;       // below: overlong
    else if (b == 0xF4) hi = 0x8F;  // above: beyond U+10FFFF
  } else {
    return {kReplacementChar, 1, false};  // a continuation byte, C0/C1 (overlong), F5..FF (too large)
  }
  std::size_t k = 1;
  for (; k < len && i + k < s.size(); ++k) {
    const auto c = static_cast<unsigned char>(s[i + k]);
    if (c < (k == 1 ? lo : 0x80) || c > (k == 1 ? hi : 0xBF)) break;
    cp = (cp << 6) | (c & 0x3F);
  }
  if (k < len) return {kReplacementChar, k, false};  // cut off, by the end or by a wrong byte
  return {cp, len, true};
}

/// Length of the well-formed sequence starting at s[i] (i < s.size()), or 0 where none starts there.
constexpr std::size_t sequence_length(std::string_view s, std::size_t i) noexcept {
  const Decoded d = decode_at(s, i);
  return d.valid ? d.length : 0;
}

/// Offset of the first byte where no well-formed sequence starts, or npos when `s` is valid UTF-8.
constexpr std::size_t first_invalid(std::string_view s) noexcept {
  for (std::size_t i = 0; i < s.size();) {
    if (static_cast<unsigned char>(s[i]) < 0x80) {
      ++i;
      continue;
    }
    const std::size_t len = sequence_length(s, i);
    if (len == 0) return i;
    i += len;
  }
  return std::string_view::npos;
}

/// True if `s` is well-formed UTF-8 (no overlong forms, no surrogates, at most U+10FFFF, nothing cut off).
constexpr bool is_valid(std::string_view s) noexcept { return first_invalid(s) == std::string_view::npos; }

/// Code points of `s`; malformed sequences become U+FFFD as `policy` says.
inline std::u32string decode(std::string_view s, Replacement policy) {
  std::u32string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size();) {
    const auto b = static_cast<unsigned char>(s[i]);
    if (b < 0x80) {
      out.push_back(b);
      ++i;
      continue;
    }
    const Decoded d = decode_at(s, i);
    out.push_back(d.cp);
    i += d.valid || policy == Replacement::maximal_subpart ? d.length : 1;
  }
  return out;
}

/// Append the UTF-8 form of `cp` to `out`; returns the bytes written. Surrogates are written as
/// their three bytes (decode() never yields them; utf8proc_encode_char did the same), and a value
/// above U+10FFFF, which has no UTF-8 form, writes nothing and returns 0.
inline std::size_t append(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
    return 1;
  }
  if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    return 2;
  }
  if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    return 3;
  }
  if (cp <= kMaxCodePoint) {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    return 4;
  }
  return 0;
}

/// UTF-8 of code points (each as append() writes it).
inline std::string encode(std::u32string_view cps) {
  std::string out;
  out.reserve(cps.size());
  for (const char32_t cp : cps) append(out, cp);
  return out;
}

/// `text` with every byte that does not belong to a well-formed sequence, and every control byte
/// (below 0x20) but tab and newline, written as "\xNN" (upper-case hex); everything else is kept as
/// it is. The result is valid UTF-8, fit for JSON (nlohmann refuses invalid UTF-8) and for error
/// messages, without garbling a terminal.
inline std::string escape(std::string_view text) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size();) {
    const auto c = static_cast<unsigned char>(text[i]);
    const std::size_t len = sequence_length(text, i);
    if (len != 0 && (c >= 0x20 || c == '\t' || c == '\n')) {
      out.append(text.substr(i, len));
      i += len;
    } else {
      out += "\\x";
      out += hex[c >> 4];
      out += hex[c & 0xF];
      ++i;
    }
  }
  return out;
}

}  // namespace molm::utf8
