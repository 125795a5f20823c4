// One encoded text as a tokenizer hands it to a model: ids and attention mask, after the special
// tokens, truncation and padding of Transformers' single-sequence `__call__` (4.35).
//
//   auto e = tokenizer.encode(text, {.max_length = 32, .pad_to_max_length = true});
//   e.ids            // [CLS] ... [SEP] [PAD] ...   (truncated so that the specials still fit)
//   e.attention_mask // 1 ... 1 0 ...
//
// Batches of rows are padded by data::pad_sequences; this is the per-text rule.
#pragma once

#include "molm/core/error.hpp"

#include <cstdint>
#include <optional>
#include <vector>

namespace molm::text {

enum class PaddingSide { left, right };

struct EncodeOptions {
  bool add_special_tokens = true;
  /// Truncate to this many tokens, specials included (Transformers' `truncation=True, max_length`):
  /// tokens are removed from the end of the text, the specials are kept.
  std::optional<std::size_t> max_length{};
  bool pad_to_max_length = false;  ///< `padding="max_length"` (needs max_length)
  PaddingSide padding_side = PaddingSide::right;
};

struct Encoding {
  std::vector<std::int64_t> ids;
  std::vector<std::int64_t> attention_mask;  ///< 1 on tokens, 0 on padding
};

/// Assembles `prefix + body + suffix` (the special tokens around the text, when wanted) under the
/// truncation and padding rules of `options`.
inline Encoding finish_encoding(std::vector<std::int64_t> body, const std::vector<std::int64_t>& prefix,
                                const std::vector<std::int64_t>& suffix, const EncodeOptions& options,
                                std::optional<std::int64_t> pad_id) {
  const std::size_t specials = options.add_special_tokens ? prefix.size() + suffix.size() : 0;
  if (options.max_length) {
    MOLM_CHECK(*options.max_length >= specials, "text",
               "max_length {} leaves no room for the {} special tokens of the sequence", *options.max_length,
               specials);
    if (body.size() + specials > *options.max_length) body.resize(*options.max_length - specials);
  }
  Encoding out;
  out.ids.reserve(body.size() + specials);
  if (options.add_special_tokens) out.ids.insert(out.ids.end(), prefix.begin(), prefix.end());
  out.ids.insert(out.ids.end(), body.begin(), body.end());
  if (options.add_special_tokens) out.ids.insert(out.ids.end(), suffix.begin(), suffix.end());
  out.attention_mask.assign(out.ids.size(), 1);
  if (options.pad_to_max_length) {
    MOLM_CHECK(options.max_length.has_value(), "text", "padding to max_length needs a max_length");
    MOLM_CHECK(pad_id.has_value(), "text", "padding needs a pad token, and this tokenizer has none");
    const std::size_t missing = *options.max_length - out.ids.size();
    const auto at = options.padding_side == PaddingSide::left ? 0 : out.ids.size();
    out.ids.insert(out.ids.begin() + static_cast<std::ptrdiff_t>(at), missing, *pad_id);
    out.attention_mask.insert(out.attention_mask.begin() + static_cast<std::ptrdiff_t>(at), missing, 0);
  }
  return out;
}

}  // namespace molm::text
