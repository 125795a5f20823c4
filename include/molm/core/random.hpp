// Counter-based random numbers (Philox-4x32-10, Salmon et al. 2011).
//
// The value at position i of stream (seed, offset) depends only on (seed, offset, i), never on which
// thread computes it or in what order: the same seed gives the same dropout mask and the same
// initial weights on 1 thread or 64. A Generator hands out fresh offsets so consecutive draws differ,
// and its (seed, offset) pair is the whole state a checkpoint needs to save.
#pragma once

#include <array>
#include <cmath>
#include <cstdint>
#include <utility>
#include <vector>

namespace molm {

/// Philox-4x32-10 block: 4 random 32-bit words for (key = seed, counter).
inline std::array<std::uint32_t, 4> philox4x32(std::uint64_t seed, std::uint64_t ctr_hi, std::uint64_t ctr_lo) {
  std::uint32_t c0 = static_cast<std::uint32_t>(ctr_lo), c1 = static_cast<std::uint32_t>(ctr_lo >> 32),
                c2 = static_cast<std::uint32_t>(ctr_hi), c3 = static_cast<std::uint32_t>(ctr_hi >> 32);
  std::uint32_t k0 = static_cast<std::uint32_t>(seed), k1 = static_cast<std::uint32_t>(seed >> 32);
  for (int r = 0; r < 10; ++r) {
    const std::uint64_t p0 = std::uint64_t{0xD2511F53u} * c0, p1 = std::uint64_t{0xCD9E8D57u} * c2;
    const std::uint32_t h0 = static_cast<std::uint32_t>(p0 >> 32), l0 = static_cast<std::uint32_t>(p0);
    const std::uint32_t h1 = static_cast<std::uint32_t>(p1 >> 32), l1 = static_cast<std::uint32_t>(p1);
    c0 = h1 ^ c1 ^ k0;
    c1 = l1;
    c2 = h0 ^ c3 ^ k1;
    c3 = l0;
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  return {c0, c1, c2, c3};
}

/// Uniform in [0, 1) with 24 random bits (exactly representable as float).
inline float uniform01(std::uint32_t bits) { return static_cast<float>(bits >> 8) * (1.0f / 16777216.0f); }

/// Element i of the uniform stream (seed, offset).
inline float philox_uniform(std::uint64_t seed, std::uint64_t offset, std::uint64_t i) {
  return uniform01(philox4x32(seed, offset, i / 4)[i % 4]);
}

/// Element i of the standard-normal stream (seed, offset), by Box–Muller on a pair of words.
inline double philox_normal(std::uint64_t seed, std::uint64_t offset, std::uint64_t i) {
  const auto w = philox4x32(seed, offset, i / 2);
  const int j = static_cast<int>(i % 2) * 2;
  const double u1 = (static_cast<double>(w[j]) + 1.0) / 4294967297.0;  // (0, 1]
  const double u2 = static_cast<double>(w[j + 1]) / 4294967296.0;
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586476925 * u2);
}

/// A seed plus a running offset: each draw takes a new offset.
class Generator {
 public:
  explicit Generator(std::uint64_t seed = 0) : seed_(seed) {}
  std::uint64_t seed() const { return seed_; }
  std::uint64_t offset() const { return offset_; }
  void set_state(std::uint64_t seed, std::uint64_t offset) {
    seed_ = seed;
    offset_ = offset;
  }
  /// Reserve one stream for a draw; returns its offset.
  std::uint64_t next_offset() { return offset_++; }

 private:
  std::uint64_t seed_ = 0;
  std::uint64_t offset_ = 0;
};

/// A uniformly random permutation of 0 … n-1: Fisher–Yates on the Philox stream (seed, offset).
/// Used for seeded crops and shuffles; the same (n, seed, offset) gives the same order everywhere.
inline std::vector<std::int64_t> random_permutation(std::int64_t n, std::uint64_t seed, std::uint64_t offset) {
  std::vector<std::int64_t> p(static_cast<std::size_t>(n < 0 ? 0 : n));
  for (std::int64_t i = 0; i < n; ++i) p[static_cast<std::size_t>(i)] = i;
  for (std::int64_t i = n - 1; i > 0; --i) {
    const auto w = philox4x32(seed, offset, static_cast<std::uint64_t>(i));
    const std::uint64_t bits = (std::uint64_t{w[0]} << 32) | w[1];
    const auto j = static_cast<std::int64_t>(bits % static_cast<std::uint64_t>(i + 1));  // bias < 2^-50
    std::swap(p[static_cast<std::size_t>(i)], p[static_cast<std::size_t>(j)]);
  }
  return p;
}

}  // namespace molm
