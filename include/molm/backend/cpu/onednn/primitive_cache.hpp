// A thread-safe, LRU-bounded map from a primitive key (a flat list of integers: shapes, strides,
// dtypes, attributes) to a ready-to-run oneDNN primitive.
//
// Why our own cache on top of oneDNN's: a oneDNN cache hit still builds an op descriptor and a
// primitive descriptor (several microseconds); a hit here is one hash lookup, so a repeated call
// with the same shapes costs only the execution. Counters let tests see hits and misses.
#pragma once

#include "molm/core/hash.hpp"

#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <span>
#include <unordered_map>
#include <utility>
#include <vector>

namespace molm::backend::onednn {

using PrimitiveKey = std::vector<std::int64_t>;

/// FNV-1a (core/hash.hpp) over the key's bytes: a key of ~30 words costs well under a microsecond,
/// against the several a oneDNN descriptor build takes. The last step folds high bits into the low
/// ones, which in FNV depend only on the low bits of the bytes (an odd multiplier carries upwards only).
struct PrimitiveKeyHash {
  std::size_t operator()(const PrimitiveKey& k) const {
    const std::uint64_t h = fnv1a64(std::as_bytes(std::span<const std::int64_t>(k)));
    return static_cast<std::size_t>(h ^ (h >> 29));
  }
};

struct CacheStats {
  std::size_t size = 0, capacity = 0;
  std::uint64_t hits = 0, misses = 0, evictions = 0;
};

/// Entries are shared_ptr<const Entry>: a caller keeps using its entry even if it is evicted meanwhile.
template <class Entry>
class PrimitiveCache {
 public:
  explicit PrimitiveCache(std::size_t capacity) : capacity_(capacity) {}

  /// The entry for `key`, creating it with `make()` (outside the lock) on a miss.
  template <class Make>
  std::shared_ptr<const Entry> get(const PrimitiveKey& key, Make&& make) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (auto it = map_.find(key); it != map_.end()) {
        ++stats_.hits;
        order_.splice(order_.begin(), order_, it->second);  // most recently used first
        return it->second->second;
      }
      ++stats_.misses;
    }
    // Creating a primitive can take milliseconds (JIT); other threads keep using the cache meanwhile.
    // Two threads missing the same key both build it; the second insert just refreshes the entry.
    auto entry = std::make_shared<const Entry>(make());
    std::lock_guard<std::mutex> lock(mu_);
    if (auto it = map_.find(key); it != map_.end()) {
      order_.splice(order_.begin(), order_, it->second);
      return it->second->second;
    }
    order_.emplace_front(key, entry);
    map_.emplace(key, order_.begin());
    evict_to(capacity_);
    return entry;
  }

  CacheStats stats() const {
    std::lock_guard<std::mutex> lock(mu_);
    CacheStats s = stats_;
    s.size = map_.size();
    s.capacity = capacity_;
    return s;
  }

  /// Drop every entry and reset the counters.
  void clear() {
    std::lock_guard<std::mutex> lock(mu_);
    map_.clear();
    order_.clear();
    stats_ = {};
  }

  void set_capacity(std::size_t capacity) {
    std::lock_guard<std::mutex> lock(mu_);
    capacity_ = capacity;
    evict_to(capacity_);
  }

 private:
  using Item = std::pair<PrimitiveKey, std::shared_ptr<const Entry>>;

  void evict_to(std::size_t n) {
    while (map_.size() > n) {
      map_.erase(order_.back().first);
      order_.pop_back();
      ++stats_.evictions;
    }
  }

  mutable std::mutex mu_;
  std::size_t capacity_;
  std::list<Item> order_;
  std::unordered_map<PrimitiveKey, typename std::list<Item>::iterator, PrimitiveKeyHash> map_;
  CacheStats stats_;
};

}  // namespace molm::backend::onednn
