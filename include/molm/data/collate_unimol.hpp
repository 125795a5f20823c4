// Uni-Mol batches: per-molecule features (chem::featurize_unimol) right-padded into the encoder's
// three inputs, exactly as 3D-MoLM's D3Collater (data_provider/unimol_dataset.py) pads them.
//
//   auto f = chem::featurize_unimol(atoms, xyz, dict);
//   auto batch = data::collate_unimol(std::vector{f, g});               // N = longest, rounded up to 8
//   encoder->forward(batch.tokens, batch.distances, batch.edge_types);
#pragma once

#include "molm/chem/featurize.hpp"
#include "molm/core/error.hpp"
#include "molm/ops/factory.hpp"

#include <algorithm>
#include <cstdint>
#include <span>
#include <vector>

namespace molm::data {

struct UnimolCollateOptions {
  std::int64_t pad_token = 0;        // the dictionary's [PAD] id (D3Collater(dictionary.pad()))
  std::int64_t pad_to_multiple = 8;  // padded length rounded up to this (D3Collater's default)
};

/// A padded batch: the encoder takes (tokens, distances, edge_types); coordinates ride along.
struct UnimolBatch {
  Tensor tokens;       // i64 [B, N], pad_token beyond each molecule
  Tensor coordinates;  // f64 [B, N, 3], 0 in padding
  Tensor distances;    // f32 [B, N, N], 0 in every row and column of a padding slot
  Tensor edge_types;   // i64 [B, N, N], 0 (not pad·V + t) in every row and column of a padding slot
};

/// Right-pad molecules to the longest one, rounded up to pad_to_multiple (D3Collater).
inline UnimolBatch collate_unimol(std::span<const chem::UnimolFeatures> molecules,
                                  const UnimolCollateOptions& options = {}) {
  MOLM_CHECK(!molecules.empty(), "collate_unimol", "no molecules to collate");
  MOLM_CHECK(options.pad_to_multiple >= 1, "collate_unimol", "pad_to_multiple must be >= 1, got {}",
             options.pad_to_multiple);
  std::int64_t longest = 0;
  for (std::size_t b = 0; b < molecules.size(); ++b) {
    const chem::UnimolFeatures& f = molecules[b];
    MOLM_CHECK(f.tokens.defined() && f.tokens.dim() == 1 && f.tokens.dtype() == DType::i64, "collate_unimol",
               "molecule {}: tokens must be an i64 vector", b);
    const std::int64_t n = f.tokens.size(0);
    const bool consistent = f.coordinates.defined() && f.coordinates.shape() == Shape({n, 3}) &&
                            f.distances.defined() && f.distances.shape() == Shape({n, n}) &&
                            f.edge_types.defined() && f.edge_types.shape() == Shape({n, n});
    MOLM_CHECK(consistent, "collate_unimol", "molecule {}: features do not agree with its {} tokens", b, n);
    longest = std::max(longest, n);
  }
  const std::int64_t m = options.pad_to_multiple;
  const std::int64_t N = (longest + m - 1) / m * m;
  const auto B = static_cast<std::int64_t>(molecules.size());

  UnimolBatch batch;
  batch.tokens = full({B, N}, static_cast<double>(options.pad_token), DType::i64);
  batch.coordinates = zeros({B, N, 3}, DType::f64);
  batch.distances = zeros({B, N, N}, DType::f32);
  batch.edge_types = zeros({B, N, N}, DType::i64);
  no_grad ng;
  for (std::int64_t b = 0; b < B; ++b) {
    const chem::UnimolFeatures& f = molecules[static_cast<std::size_t>(b)];
    const std::int64_t n = f.tokens.size(0);
    batch.tokens.select(0, b).slice(0, 0, n).copy_(f.tokens);
    batch.coordinates.select(0, b).slice(0, 0, n).copy_(f.coordinates.to(DType::f64));
    batch.distances.select(0, b).slice(0, 0, n).slice(1, 0, n).copy_(f.distances.to(DType::f32));
    batch.edge_types.select(0, b).slice(0, 0, n).slice(1, 0, n).copy_(f.edge_types.to(DType::i64));
  }
  return batch;
}

inline UnimolBatch collate_unimol(const std::vector<chem::UnimolFeatures>& molecules,
                                  const UnimolCollateOptions& options = {}) {
  return collate_unimol(std::span<const chem::UnimolFeatures>(molecules), options);
}

}  // namespace molm::data
