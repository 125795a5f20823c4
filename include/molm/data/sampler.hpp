// Samplers: which rows a training or evaluation loop visits, in which order, on which rank.
//
//   data::ShardedSampler s(ds.size(), {.shuffle = true, .seed = 42, .rank = r, .world = w});
//   for (auto& batch : data::batches(s.indices(epoch), 8)) ...      // same order on every run
//
//   data::MixtureSampler mix({n_qc, n_2d, n_desc, n_caption}, {.seed = 42});  // the 3D-MoLM rule
//   auto [part, row] = mix.draw(k);                                   // draw k, a pure function of k
//
// Every order is a pure function of (seed, epoch or draw number, rank): nothing depends on a
// hidden RNG state, so a resumed run visits exactly the rows the interrupted one would have, and
// ranks never overlap. Shuffles are Philox Fisher–Yates (core/random.hpp), not PyTorch's randperm:
// the reference's own order is not reproducible outside PyTorch, and nothing downstream needs it.
#pragma once

#include "molm/core/error.hpp"
#include "molm/core/random.hpp"

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

namespace molm::data {

struct ShardOptions {
  bool shuffle = false;
  std::uint64_t seed = 0;
  std::size_t rank = 0;    ///< this process, 0 … world-1
  std::size_t world = 1;   ///< number of processes sharing the data
  /// false: pad the order by wrapping around so every rank gets the same count (PyTorch's
  /// DistributedSampler default); true: drop the tail that does not divide evenly.
  bool drop_last = false;
};

/// Rows of a dataset of `size` for one rank, PyTorch DistributedSampler semantics (one rank = the
/// plain sequential or shuffled sampler): shuffle with (seed, epoch), pad or drop to a multiple of
/// `world`, then rank r takes positions r, r+world, r+2·world, …
class ShardedSampler {
 public:
  ShardedSampler(std::size_t size, ShardOptions options) : size_(size), options_(options) {
    MOLM_CHECK(options_.world >= 1, "data", "sampler: world size must be at least 1");
    MOLM_CHECK(options_.rank < options_.world, "data", "sampler: rank {} is not below world size {}", options_.rank,
               options_.world);
  }

  /// Rows per rank and epoch.
  std::size_t per_rank() const {
    const std::size_t w = options_.world;
    return options_.drop_last ? size_ / w : (size_ + w - 1) / w;
  }

  std::vector<std::size_t> indices(std::uint64_t epoch = 0) const {
    std::vector<std::size_t> order(size_);
    if (options_.shuffle) {
      const auto perm = random_permutation(static_cast<std::int64_t>(size_), options_.seed, epoch);
      for (std::size_t i = 0; i < size_; ++i) order[i] = static_cast<std::size_t>(perm[i]);
    } else {
      for (std::size_t i = 0; i < size_; ++i) order[i] = i;
    }
    const std::size_t total = per_rank() * options_.world;
    if (size_ > 0) {
      for (std::size_t i = size_; i < total; ++i) order.push_back(order[(i - size_) % size_]);  // wrap around
    }
    order.resize(size_ == 0 ? 0 : total);
    std::vector<std::size_t> mine;
    mine.reserve(per_rank());
    for (std::size_t i = options_.rank; i < order.size(); i += options_.world) mine.push_back(order[i]);
    return mine;
  }

 private:
  std::size_t size_;
  ShardOptions options_;
};

/// `order` cut into batches of `batch_size`; the last one smaller unless `drop_last`.
inline std::vector<std::vector<std::size_t>> batches(const std::vector<std::size_t>& order, std::size_t batch_size,
                                                     bool drop_last = false) {
  MOLM_CHECK(batch_size >= 1, "data", "batch size must be at least 1");
  std::vector<std::vector<std::size_t>> out;
  for (std::size_t start = 0; start < order.size(); start += batch_size) {
    const std::size_t end = std::min(order.size(), start + batch_size);
    if (drop_last && end - start < batch_size) break;
    out.emplace_back(order.begin() + static_cast<std::ptrdiff_t>(start), order.begin() + static_cast<std::ptrdiff_t>(end));
  }
  return out;
}

struct MixtureOptions {
  double exponent = 0.25;  ///< p_i ∝ n_i^exponent; 0.25 is 3D-MoLM's fourth-root rule (§6.3)
  std::uint64_t seed = 0;
};

/// 3D-MoLM's BalanceDataset (reference-model.md §6.3): each draw picks part i with probability
/// p_i = n_i^e / Σ_j n_j^e, then a uniformly random row of that part, ignoring the requested index.
/// The nominal epoch is Σ n_i draws. Draw k depends only on (seed, k), so rank r of w can take
/// draws r, r+w, … and a resumed run continues at draw k.
class MixtureSampler {
 public:
  explicit MixtureSampler(std::vector<std::size_t> sizes, MixtureOptions options = {})
      : sizes_(std::move(sizes)), options_(options) {
    MOLM_CHECK(!sizes_.empty(), "data", "mixture: no parts");
    double total = 0;
    for (std::size_t n : sizes_) {
      const double w = n == 0 ? 0.0 : std::pow(static_cast<double>(n), options_.exponent);
      weights_.push_back(w);
      total += w;
    }
    MOLM_CHECK(total > 0, "data", "mixture: every part is empty");
    double running = 0;
    for (double& w : weights_) {
      w /= total;
      running += w;
      cumulative_.push_back(running);
    }
    // No gap above the last non-empty part from rounding (u < 1 always lands on a non-empty part).
    std::size_t last = sizes_.size() - 1;
    while (sizes_[last] == 0) --last;
    for (std::size_t i = last; i < cumulative_.size(); ++i) cumulative_[i] = 1.0;
  }

  /// p_i for each part.
  const std::vector<double>& probabilities() const { return weights_; }
  /// Σ n_i: the reference's nominal epoch length.
  std::size_t epoch_length() const {
    std::size_t n = 0;
    for (std::size_t s : sizes_) n += s;
    return n;
  }

  /// Draw k: (part, row within the part).
  std::pair<std::size_t, std::size_t> draw(std::uint64_t k) const {
    const auto w = philox4x32(options_.seed, /*stream=*/0x6d69787475726500ull, k);  // "mixture"
    const std::uint64_t top53 = ((std::uint64_t{w[0]} << 32) | w[1]) >> 11;
    const double u = static_cast<double>(top53) / 9007199254740992.0;  // [0, 1)
    std::size_t part = 0;
    while (u >= cumulative_[part]) ++part;  // empty parts have zero width and are skipped
    const std::uint64_t bits = (std::uint64_t{w[2]} << 32) | w[3];
    return {part, static_cast<std::size_t>(bits % sizes_[part])};
  }

 private:
  std::vector<std::size_t> sizes_;
  MixtureOptions options_;
  std::vector<double> weights_, cumulative_;
};

}  // namespace molm::data
