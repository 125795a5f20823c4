// Embedding: a lookup table, PyTorch's nn.Embedding. Parameter "weight" [num, dim], initialised
// N(0, 1) as PyTorch does, with the padding row (if any) set to zero. The padding row receives no
// gradient, so it stays zero while training (Uni-Mol's embed_tokens row 0, reference-model.md §2.3).
#pragma once

#include "molm/nn/module.hpp"

#include <optional>

namespace molm::nn {

class Embedding : public Module {
 public:
  /// `padding_idx` may be negative (counted from the end, as in PyTorch).
  Embedding(std::int64_t num_embeddings, std::int64_t embedding_dim, Generator& gen,
            std::optional<std::int64_t> padding_idx = std::nullopt, DType dtype = DType::f32) {
    if (padding_idx) {
      MOLM_CHECK(*padding_idx < num_embeddings && *padding_idx >= -num_embeddings, "Embedding",
                 "padding_idx {} is outside a table of {} rows", *padding_idx, num_embeddings);
      padding_idx_ = *padding_idx < 0 ? *padding_idx + num_embeddings : *padding_idx;
    }
    Tensor w = randn({num_embeddings, embedding_dim}, gen, dtype);
    if (padding_idx_ >= 0) w.select(0, padding_idx_).zero_();
    weight = register_parameter("weight", w);
  }

  /// indices (i64 or i32, any shape) → [..., dim].
  Tensor forward(const Tensor& indices) const { return embedding(indices, weight, padding_idx_); }

  /// The padding row, or -1 when there is none.
  std::int64_t padding_idx() const { return padding_idx_; }

  Tensor weight;  ///< [num, dim]

 private:
  std::int64_t padding_idx_ = -1;
};

}  // namespace molm::nn
