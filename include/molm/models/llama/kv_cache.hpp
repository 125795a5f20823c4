// The key/value cache of Llama decoding: each layer's rotated keys and its values for every position
// seen so far, preallocated for `capacity` positions so decoding a token appends in place.
//
//   keys[l], values[l]   [B, Hkv, capacity, D]   positions [0, length) are filled
//
// A forward with a cache writes its T new positions at [length, length + T) of every layer and
// attends over [0, length + T); the model advances `length` once all layers have run. Beam search
// reorders the batch rows after each step (reorder: row i becomes the old row rows[i], HF's
// _reorder_cache). The cache holds no autograd history: it is for inference (no_grad).
#pragma once

#include "molm/models/llama/config.hpp"
#include "molm/ops/factory.hpp"
#include "molm/ops/indexing.hpp"

#include <vector>

namespace molm::models::llama {

struct KVCache {
  std::vector<Tensor> keys, values;  ///< per layer, [B, Hkv, capacity, D]
  std::int64_t length = 0;           ///< positions filled

  /// An empty cache for `batch` rows of up to `capacity` positions, in `dtype` (the model's).
  static KVCache allocate(const Config& c, std::int64_t batch, std::int64_t capacity, DType dtype) {
    MOLM_CHECK(batch > 0 && capacity > 0, "llama", "a key/value cache needs batch and capacity > 0, got {} and {}",
               batch, capacity);
    KVCache cache;
    for (std::int64_t l = 0; l < c.num_hidden_layers; ++l) {
      cache.keys.push_back(Tensor::empty({batch, c.num_key_value_heads, capacity, c.head_dim()}, dtype));
      cache.values.push_back(Tensor::empty({batch, c.num_key_value_heads, capacity, c.head_dim()}, dtype));
    }
    return cache;
  }

  std::int64_t batch() const { return keys.empty() ? 0 : keys.front().shape()[0]; }
  std::int64_t capacity() const { return keys.empty() ? 0 : keys.front().shape()[2]; }

  /// Bytes held (keys and values of every layer).
  std::uint64_t nbytes() const {
    std::uint64_t n = 0;
    for (const auto& t : keys) n += static_cast<std::uint64_t>(t.numel()) * itemsize(t.dtype());
    return 2 * n;
  }

  /// Row i becomes the old row rows[i] (rows may repeat: a beam continued twice).
  void reorder(const std::vector<std::int64_t>& rows) {
    MOLM_CHECK(static_cast<std::int64_t>(rows.size()) == batch(), "llama",
               "reorder needs one source row per cache row ({}), got {}", batch(), rows.size());
    bool identity = true;
    for (std::size_t i = 0; i < rows.size(); ++i) identity = identity && rows[i] == static_cast<std::int64_t>(i);
    if (identity || length == 0) return;
    Tensor index = Tensor::empty({static_cast<std::int64_t>(rows.size())}, DType::i64);
    for (std::size_t i = 0; i < rows.size(); ++i) index.data<std::int64_t>()[i] = rows[i];
    for (auto* side : {&keys, &values})
      for (auto& t : *side) {
        const Tensor filled = index_select(t.narrow(2, 0, length), 0, index);
        t.narrow(2, 0, length).copy_(filled);
      }
  }
};

}  // namespace molm::models::llama
