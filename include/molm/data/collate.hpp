// Collation of token sequences: padding into [B, T] tensors and the reference's (prompt, target)
// training sequences with their labels. Molecules are collated by data::collate_unimol
// (data/collate_unimol.hpp).
//
//   auto pair = data::encode_pair(prompt_ids, target_ids, {.bos = 2, .max_length = 320});
//   auto batch = data::pad_sequences(rows, {.pad_id = 32000, .side = data::PadSide::left});
//   batch.ids, batch.attention_mask                                     // i64 [B, T]
//
// Token ids come from a tokenizer (text/); nothing here knows about text, so the rules can be
// tested against Transformers on id lists alone.
#pragma once

#include "molm/core/error.hpp"
#include "molm/tensor/tensor.hpp"

#include <algorithm>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

namespace molm::data {

inline constexpr std::int64_t kIgnoreIndex = -100;  // cross-entropy's ignore_index, as PyTorch

enum class PadSide { left, right };

struct PadOptions {
  std::int64_t pad_id = 0;
  PadSide side = PadSide::right;
  /// Pad to exactly this length ("max_length" padding; longer rows are an error — truncate first);
  /// unset: to the longest row ("longest" padding).
  std::optional<std::size_t> length{};
  std::int64_t label_pad = kIgnoreIndex;  ///< fill for the `labels` rows
};

struct PaddedBatch {
  Tensor ids;             ///< i64 [B, T]
  Tensor attention_mask;  ///< i64 [B, T]: 1 on tokens, 0 on padding
  Tensor labels;          ///< i64 [B, T] when labels were given, else empty
};

/// Rows of ids (and optional per-row labels of the same lengths) padded into one batch.
inline PaddedBatch pad_sequences(std::span<const std::vector<std::int64_t>> rows, const PadOptions& options = {},
                                 std::span<const std::vector<std::int64_t>> labels = {}) {
  MOLM_CHECK(labels.empty() || labels.size() == rows.size(), "data", "pad: {} rows of ids but {} rows of labels",
             rows.size(), labels.size());
  std::size_t longest = 0;
  for (std::size_t b = 0; b < rows.size(); ++b) {
    longest = std::max(longest, rows[b].size());
    MOLM_CHECK(labels.empty() || labels[b].size() == rows[b].size(), "data",
               "pad: row {} has {} ids but {} labels", b, rows[b].size(), labels[b].size());
  }
  const std::size_t T = options.length.value_or(longest);
  MOLM_CHECK(longest <= T, "data", "pad: a row has {} tokens, more than the padded length {} (truncate first)", longest,
             T);
  const auto B = static_cast<std::int64_t>(rows.size());
  PaddedBatch out;
  out.ids = Tensor::empty({B, static_cast<std::int64_t>(T)}, DType::i64);
  out.attention_mask = Tensor::empty({B, static_cast<std::int64_t>(T)}, DType::i64);
  if (!labels.empty()) out.labels = Tensor::empty({B, static_cast<std::int64_t>(T)}, DType::i64);
  for (std::size_t b = 0; b < rows.size(); ++b) {
    const std::size_t n = rows[b].size(), start = options.side == PadSide::left ? T - n : 0;
    std::int64_t* ids = out.ids.data<std::int64_t>() + b * T;
    std::int64_t* mask = out.attention_mask.data<std::int64_t>() + b * T;
    std::fill(ids, ids + T, options.pad_id);
    std::fill(mask, mask + T, 0);
    std::copy(rows[b].begin(), rows[b].end(), ids + start);
    std::fill(mask + start, mask + start + n, 1);
    if (!labels.empty()) {
      std::int64_t* lab = out.labels.data<std::int64_t>() + b * T;
      std::fill(lab, lab + T, options.label_pad);
      std::copy(labels[b].begin(), labels[b].end(), lab + start);
    }
  }
  return out;
}

struct PairOptions {
  std::int64_t bos = 2;          ///< the reference sets bos = eos = unk = `</s>` = 2 (§5.2)
  std::size_t max_length = 320;  ///< stage 2: 320, stage 3: 384 (§5.5, §6.2); 0 = no truncation
  std::int64_t mol_token = 32001;       ///< `<mol>`: must survive truncation
  std::size_t mol_tokens_required = 8;  ///< how many the prompt must hold (0 = no check)
};

struct PairEncoding {
  std::vector<std::int64_t> ids;          ///< [bos] prompt [bos] target
  std::vector<std::int64_t> token_types;  ///< 0 for [bos] prompt, 1 for [bos] target
  std::vector<std::int64_t> labels;       ///< ids, with every type-0 position = kIgnoreIndex
};

/// The reference's training sequence for (prompt, target) — reference-model.md §5.5: the Llama
/// pair rule `[bos] prompt [bos] target` (no eos), truncated "longest first" exactly as
/// Transformers 4.35 does it (one token at a time from the end of the longer part, the target on
/// ties), labels only on the type-1 part (its leading `</s>` included). Throws when truncation
/// cuts into the `<mol>` tokens, as the reference's collater asserts.
inline PairEncoding encode_pair(std::span<const std::int64_t> prompt, std::span<const std::int64_t> target,
                                const PairOptions& options = {}) {
  std::size_t keep_prompt = prompt.size(), keep_target = target.size();
  if (options.max_length > 0) {
    const std::size_t specials = 2;
    MOLM_CHECK(options.max_length >= specials, "data", "pair: max_length {} leaves no room for the two bos tokens",
               options.max_length);
    std::size_t excess = keep_prompt + keep_target + specials > options.max_length
                             ? keep_prompt + keep_target + specials - options.max_length
                             : 0;
    for (; excess > 0; --excess) {
      if (keep_prompt > keep_target) --keep_prompt;
      else --keep_target;
    }
  }
  if (options.mol_tokens_required > 0) {
    const auto count = static_cast<std::size_t>(
        std::count(prompt.begin(), prompt.begin() + static_cast<std::ptrdiff_t>(keep_prompt), options.mol_token));
    MOLM_CHECK(count == options.mol_tokens_required, "data",
               "pair: the prompt holds {} <mol> tokens (id {}) after truncation to {} tokens; {} are required — "
               "raise max_length or shorten the prompt",
               count, options.mol_token, options.max_length, options.mol_tokens_required);
  }
  PairEncoding e;
  const std::size_t n = keep_prompt + keep_target + 2;
  e.ids.reserve(n);
  e.ids.push_back(options.bos);
  e.ids.insert(e.ids.end(), prompt.begin(), prompt.begin() + static_cast<std::ptrdiff_t>(keep_prompt));
  e.ids.push_back(options.bos);
  e.ids.insert(e.ids.end(), target.begin(), target.begin() + static_cast<std::ptrdiff_t>(keep_target));
  e.token_types.assign(n, 0);
  std::fill(e.token_types.begin() + static_cast<std::ptrdiff_t>(keep_prompt + 1), e.token_types.end(), 1);
  e.labels = e.ids;
  for (std::size_t i = 0; i < n; ++i)
    if (e.token_types[i] == 0) e.labels[i] = kIgnoreIndex;
  return e;
}

}  // namespace molm::data
