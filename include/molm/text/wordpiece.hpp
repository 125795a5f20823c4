// BERT's WordPiece tokenizer, equal token for token to Transformers 4.35's slow `BertTokenizer`
// (what 3D-MoLM's Q-Former and its stage-2 caption metric use with the SciBERT vocabulary).
//
//   auto tok = text::WordPieceTokenizer::from_file("scibert/vocab.txt");   // uncased, as SciBERT
//   tok.add_special_token("[DEC]");                                          // 3D-MoLM: id 31090
//   tok.tokenize("Aspirin's pKa")   // aspirin ' s pk ##a
//   tok.encode("Aspirin").ids      // [CLS] ... [SEP]
//
// The steps, in Transformers' order:
//  1. added/special tokens ([CLS], [DEC], ...) are cut out of the text (text/added_tokens.hpp);
//     when lower-casing, every other character is lower-cased on its own first (Python's
//     `c.lower()` per character, which is why a final capital sigma becomes σ, never ς);
//  2. BasicTokenizer on each chunk: drop NUL, U+FFFD and control characters (category C*, except
//     \t \n \r, which are whitespace like category Zs); put spaces around CJK ideographs; NFC;
//     split on Python whitespace; lower-case and strip accents (NFD, drop Mn) when uncased; split
//     off punctuation (ASCII symbols and Unicode P*) as single-character words;
//  3. WordPiece: greedy longest-match-first with `##` continuations; a word longer than 100 code
//     points, or one that cannot be covered, is a single [UNK].
#pragma once

#include "molm/core/error.hpp"
#include "molm/text/added_tokens.hpp"
#include "molm/text/encoding.hpp"
#include "molm/text/unicode.hpp"

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace molm::text {

struct WordPieceOptions {
  bool lower_case = true;                ///< `do_lower_case` (SciBERT scivocab uncased: true)
  std::optional<bool> strip_accents{};   ///< unset: follow lower_case, as BERT does
  bool tokenize_chinese_chars = true;
  std::size_t max_input_chars_per_word = 100;
};

namespace detail {

/// HF's `_is_chinese_char`: the CJK Unified Ideographs blocks it lists (not all of CJK).
inline bool is_cjk_ideograph(char32_t cp) {
  return (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) || (cp >= 0x20000 && cp <= 0x2A6DF) ||
         (cp >= 0x2A700 && cp <= 0x2B73F) || (cp >= 0x2B740 && cp <= 0x2B81F) || (cp >= 0x2B820 && cp <= 0x2CEAF) ||
         (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x2F800 && cp <= 0x2FA1F);
}

/// HF's `_is_whitespace`: space, \t, \n, \r and category Zs.
inline bool is_bert_whitespace(char32_t cp) {
  return cp == U' ' || cp == U'\t' || cp == U'\n' || cp == U'\r' || category(cp) == "Zs";
}

/// HF's `_is_control`: category C* except \t, \n, \r (unassigned code points count: "Cn").
inline bool is_bert_control(char32_t cp) {
  if (cp == U'\t' || cp == U'\n' || cp == U'\r') return false;
  return category(cp)[0] == 'C';
}

/// HF's `_is_punctuation`: every non-alphanumeric ASCII character plus Unicode P*.
inline bool is_bert_punctuation(char32_t cp) {
  if ((cp >= 33 && cp <= 47) || (cp >= 58 && cp <= 64) || (cp >= 91 && cp <= 96) || (cp >= 123 && cp <= 126))
    return true;
  return category(cp)[0] == 'P';
}

}  // namespace detail

class WordPieceTokenizer {
 public:
  /// Reads `vocab.txt`: one token per line, id = line number (0-based), as `load_vocab` does
  /// (Python's universal newlines: \n, \r\n and \r all end a line).
  static WordPieceTokenizer from_file(const std::filesystem::path& vocab_path, WordPieceOptions options = {}) {
    std::ifstream in(vocab_path, std::ios::binary);
    MOLM_CHECK(in.good(), "wordpiece", "cannot open the vocabulary {}", vocab_path.string());
    std::stringstream buffer;
    buffer << in.rdbuf();
    const std::string bytes = buffer.str();
    std::vector<std::string> lines;
    std::size_t start = 0;
    for (std::size_t i = 0; i < bytes.size(); ++i) {
      if (bytes[i] != '\n' && bytes[i] != '\r') continue;
      lines.push_back(bytes.substr(start, i - start));
      if (bytes[i] == '\r' && i + 1 < bytes.size() && bytes[i + 1] == '\n') ++i;
      start = i + 1;
    }
    if (start < bytes.size()) lines.push_back(bytes.substr(start));
    MOLM_CHECK(!lines.empty(), "wordpiece", "the vocabulary {} is empty", vocab_path.string());
    return WordPieceTokenizer(std::move(lines), options);
  }

  /// From the vocabulary's tokens in id order. BERT's special tokens missing from it are added
  /// after it in Transformers' order ([UNK], [SEP], [PAD], [CLS], [MASK]).
  WordPieceTokenizer(std::vector<std::string> vocab, WordPieceOptions options = {})
      : tokens_(std::move(vocab)), options_(options) {
    for (std::size_t i = 0; i < tokens_.size(); ++i) ids_[tokens_[i]] = static_cast<std::int64_t>(i);
    vocab_size_ = ids_.size();
    for (const char* special : {"[UNK]", "[SEP]", "[PAD]", "[CLS]", "[MASK]"}) add_special_token(special);
  }

  /// Adds a special token (3D-MoLM adds `[DEC]` as the bos token): the vocabulary's id when the
  /// string is in it, else the next free id. It is never split and never lower-cased.
  std::int64_t add_special_token(const std::string& content) {
    if (const AddedToken* t = added_.find(content)) return t->id;
    std::int64_t id;
    if (auto it = ids_.find(content); it != ids_.end()) {
      id = it->second;
    } else {
      id = static_cast<std::int64_t>(size());
      extra_.push_back(content);
    }
    added_.add({.content = content, .id = id, .special = true});
    return id;
  }

  /// Word pieces of `text` (no [CLS]/[SEP]), as `BertTokenizer.tokenize`.
  std::vector<std::string> tokenize(std::string_view text) const {
    std::vector<std::string> pieces;
    for (const auto& part : added_.split(text)) {
      if (part.token) {
        pieces.push_back(part.text);
        continue;
      }
      std::u32string chunk = decode_utf8(part.text);
      if (options_.lower_case) {
        std::u32string lowered;
        lowered.reserve(chunk.size());
        for (char32_t cp : chunk) append_python_lower(lowered, cp);
        chunk = std::move(lowered);
      }
      for (const auto& word : basic_tokenize(chunk)) wordpiece(word, pieces);
    }
    return pieces;
  }

  /// Token ids of `text` with [CLS] ... [SEP] (unless add_special_tokens is off).
  std::vector<std::int64_t> encode(std::string_view text, bool add_special_tokens = true) const {
    return encode(text, EncodeOptions{.add_special_tokens = add_special_tokens}).ids;
  }

  /// Ids and attention mask with truncation and padding (pad id: [PAD]).
  Encoding encode(std::string_view text, const EncodeOptions& options) const {
    std::vector<std::int64_t> body;
    for (const auto& piece : tokenize(text)) body.push_back(token_to_id(piece));
    return finish_encoding(std::move(body), {cls_id()}, {sep_id()}, options, pad_id());
  }

  /// The id of a token string; [UNK]'s id when it is unknown.
  std::int64_t token_to_id(std::string_view token) const {
    if (const AddedToken* t = added_.find(token)) return t->id;
    const auto it = ids_.find(std::string(token));
    return it == ids_.end() ? unk_id() : it->second;
  }

  const std::string& id_to_token(std::int64_t id) const {
    if (const AddedToken* t = added_.find(id)) return t->content;
    MOLM_CHECK(id >= 0 && static_cast<std::size_t>(id) < tokens_.size(), "wordpiece", "token id {} is outside 0..{}",
               id, size() - 1);
    return tokens_[static_cast<std::size_t>(id)];
  }

  /// The vocabulary's distinct tokens (a repeated line keeps its last id, as Python's dict does).
  std::size_t vocab_size() const { return vocab_size_; }
  std::size_t size() const { return vocab_size_ + extra_.size(); }  ///< `len(tokenizer)`: with added tokens
  const AddedTokens& added_tokens() const { return added_; }
  const WordPieceOptions& options() const { return options_; }

  std::int64_t unk_id() const { return added_.find(std::string_view("[UNK]"))->id; }
  std::int64_t sep_id() const { return added_.find(std::string_view("[SEP]"))->id; }
  std::int64_t pad_id() const { return added_.find(std::string_view("[PAD]"))->id; }
  std::int64_t cls_id() const { return added_.find(std::string_view("[CLS]"))->id; }
  std::int64_t mask_id() const { return added_.find(std::string_view("[MASK]"))->id; }

 private:
  /// BasicTokenizer.tokenize on one chunk of (already lower-cased) text.
  std::vector<std::u32string> basic_tokenize(std::u32string_view chunk) const {
    std::u32string cleaned;
    cleaned.reserve(chunk.size());
    for (char32_t cp : chunk) {
      if (cp == 0 || cp == kReplacementChar || detail::is_bert_control(cp)) continue;
      const bool cjk = options_.tokenize_chinese_chars && detail::is_cjk_ideograph(cp);
      if (cjk) cleaned.push_back(U' ');
      cleaned.push_back(detail::is_bert_whitespace(cp) ? U' ' : cp);
      if (cjk) cleaned.push_back(U' ');
    }
    const std::u32string normalized = nfc(cleaned);
    const bool strip = options_.strip_accents.value_or(options_.lower_case);

    std::vector<std::u32string> words;
    for (std::u32string token : split_python_whitespace(normalized)) {
      const bool never_split = added_.find(std::string_view(encode_utf8(token))) != nullptr;
      if (!never_split) {
        if (options_.lower_case) {
          std::u32string lowered;
          for (char32_t cp : token) append_python_lower(lowered, cp);
          token = std::move(lowered);
        }
        if (strip) token = strip_accents(token);
      }
      if (never_split) {
        words.push_back(std::move(token));
        continue;
      }
      // Punctuation splitting: each punctuation character is a word; runs of others are words.
      bool start_new_word = true;
      for (char32_t cp : token) {
        if (detail::is_bert_punctuation(cp)) {
          words.emplace_back(1, cp);
          start_new_word = true;
        } else {
          if (start_new_word) words.emplace_back();
          start_new_word = false;
          words.back().push_back(cp);
        }
      }
    }
    return words;
  }

  static std::u32string strip_accents(std::u32string_view token) {
    std::u32string out;
    for (char32_t cp : nfd(token))
      if (category(cp) != "Mn") out.push_back(cp);
    return out;
  }

  static std::vector<std::u32string> split_python_whitespace(std::u32string_view s) {
    std::vector<std::u32string> out;
    std::size_t i = 0;
    while (i < s.size()) {
      while (i < s.size() && is_python_space(s[i])) ++i;
      const std::size_t start = i;
      while (i < s.size() && !is_python_space(s[i])) ++i;
      if (i > start) out.emplace_back(s.substr(start, i - start));
    }
    return out;
  }

  /// WordpieceTokenizer.tokenize on one word, appended to `out`.
  void wordpiece(const std::u32string& word, std::vector<std::string>& out) const {
    if (word.size() > options_.max_input_chars_per_word) {
      out.push_back("[UNK]");
      return;
    }
    std::vector<std::size_t> offset{0};  // byte offset of each code point in `bytes`
    std::string bytes;
    for (char32_t cp : word) {
      append_utf8(bytes, cp);
      offset.push_back(bytes.size());
    }
    const std::size_t first = out.size();
    std::string candidate;
    std::size_t start = 0;
    while (start < word.size()) {
      std::size_t end = word.size();
      bool found = false;
      for (; end > start; --end) {
        candidate.assign(start > 0 ? "##" : "");
        candidate.append(bytes, offset[start], offset[end] - offset[start]);
        if (ids_.count(candidate)) {
          found = true;
          break;
        }
      }
      if (!found) {
        out.resize(first);
        out.push_back("[UNK]");
        return;
      }
      out.push_back(candidate);
      start = end;
    }
  }

  std::vector<std::string> tokens_;  // the vocabulary file, id order
  std::vector<std::string> extra_;   // added tokens that are not in it, ids vocab_size...
  std::unordered_map<std::string, std::int64_t> ids_;
  std::size_t vocab_size_ = 0;
  WordPieceOptions options_;
  AddedTokens added_;
};

}  // namespace molm::text
