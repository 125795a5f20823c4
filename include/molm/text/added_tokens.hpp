// Added tokens as Transformers' slow tokenizers (4.35) treat them: strings such as `[DEC]`, `<mol>`
// or `</s>` that are cut out of the text before the model's own tokenizer sees it, each becoming
// one token with a fixed id; the text between them is tokenized chunk by chunk.
//
//   AddedTokens added;
//   added.add({.content = "<mol>", .id = 32001, .special = true});
//   for (const auto& part : added.split("C <mol><mol>."))   // "C ", <mol>, <mol>, "."
//     part.token ? ids.push_back(part.token->id) : encode_chunk(part.text);
//
// Matching is case-sensitive and leftmost, longest first, as `PreTrainedTokenizer.tokenize`'s trie
// does for token sets where no token contains another (all the sets used here). The `lstrip` /
// `rstrip` flags strip Python whitespace from the neighbouring chunks; every token the reference
// adds has both off, so a space next to `<mol>` reaches SentencePiece (a lone `▁`, §5.2).
#pragma once

#include "molm/core/error.hpp"
#include "molm/text/unicode.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace molm::text {

struct AddedToken {
  std::string content;
  std::int64_t id = 0;
  bool special = false;  ///< counts among the special tokens (dropped by decode(skip_special_tokens))
  bool lstrip = false;   ///< swallow whitespace on its left
  bool rstrip = false;   ///< swallow whitespace on its right
};

class AddedTokens {
 public:
  /// One piece of split text: a chunk of ordinary text, or an added token.
  struct Part {
    std::string text;                ///< the chunk, or the token's content
    const AddedToken* token = nullptr;
  };

  /// Adds a token, or replaces the one with the same content (as re-adding does in Transformers).
  void add(AddedToken token) {
    MOLM_CHECK(!token.content.empty(), "text", "an added token cannot be empty (id {})", token.id);
    for (auto& t : tokens_)
      if (t.content == token.content) {
        t = std::move(token);
        return;
      }
    tokens_.push_back(std::move(token));
  }

  const std::vector<AddedToken>& all() const { return tokens_; }
  bool empty() const { return tokens_.empty(); }

  const AddedToken* find(std::string_view content) const {
    for (const auto& t : tokens_)
      if (t.content == content) return &t;
    return nullptr;
  }
  const AddedToken* find(std::int64_t id) const {
    for (const auto& t : tokens_)
      if (t.id == id) return &t;
    return nullptr;
  }

  /// The text cut at every added-token string; empty chunks are left out.
  std::vector<Part> split(std::string_view text) const {
    std::vector<Part> parts;
    std::size_t chunk_start = 0, i = 0;
    while (i < text.size()) {
      const AddedToken* match = longest_match_at(text, i);
      if (!match) {
        ++i;
        continue;
      }
      parts.push_back({std::string(text.substr(chunk_start, i - chunk_start)), nullptr});
      parts.push_back({match->content, match});
      i += match->content.size();
      chunk_start = i;
    }
    parts.push_back({std::string(text.substr(chunk_start)), nullptr});
    // Transformers strips the neighbours of lstrip/rstrip tokens before dropping empty chunks.
    for (std::size_t k = 0; k < parts.size(); ++k) {
      if (!parts[k].token) continue;
      if (parts[k].token->rstrip && k + 1 < parts.size() && !parts[k + 1].token)
        parts[k + 1].text = strip_python_space(parts[k + 1].text, /*left=*/true);
      if (parts[k].token->lstrip && k > 0 && !parts[k - 1].token)
        parts[k - 1].text = strip_python_space(parts[k - 1].text, /*left=*/false);
    }
    std::erase_if(parts, [](const Part& p) { return !p.token && p.text.empty(); });
    return parts;
  }

 private:
  const AddedToken* longest_match_at(std::string_view text, std::size_t i) const {
    const AddedToken* best = nullptr;
    for (const auto& t : tokens_)
      if (text.substr(i, t.content.size()) == t.content && (!best || t.content.size() > best->content.size()))
        best = &t;
    return best;
  }

  static std::string strip_python_space(const std::string& s, bool left) {
    std::u32string cps = decode_utf8(s);
    if (left) {
      std::size_t k = 0;
      while (k < cps.size() && is_python_space(cps[k])) ++k;
      cps.erase(0, k);
    } else {
      while (!cps.empty() && is_python_space(cps.back())) cps.pop_back();
    }
    return encode_utf8(cps);
  }

  std::vector<AddedToken> tokens_;
};

}  // namespace molm::text
