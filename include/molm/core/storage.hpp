// Storage: a ref-counted, 64-byte aligned block of bytes shared by a tensor and all its views.
//
// It also carries the version counter that autograd uses to detect a tensor that was saved for
// backward and then modified in place: every in-place write bumps it.
//
// Blocks from 256 KB up are anonymous mappings that are kept for reuse when freed (bounded; see
// detail::MappingCache): fresh pages cost a kernel page fault and zeroing each, and a training step
// allocates the same large activations again and again.
#pragma once

#include "molm/core/device.hpp"
#include "molm/core/error.hpp"

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <map>
#include <memory>
#include <mutex>

#include <sys/mman.h>
#include <unistd.h>

namespace molm {

inline constexpr std::size_t kAlignment = 64;
#if defined(__SANITIZE_ADDRESS__)
// Under AddressSanitizer blocks stay on the checked heap (mapped blocks and their reuse would hide
// use-after-free), except the very large, which are mapped and never cached.
inline constexpr std::size_t kMappedBlock = std::size_t{16} << 20;
inline constexpr bool kCacheMappedBlocks = false;
#else
inline constexpr std::size_t kMappedBlock = std::size_t{256} << 10;  // from here on: own mapping, cached
inline constexpr bool kCacheMappedBlocks = true;
#endif

namespace detail {

/// Freed big mappings, by length, for the next allocation of the same rounded length. Bounded: at
/// most limit() bytes are kept (MOLM_CPU_CACHE_MB, default a quarter of physical memory up to
/// 8 GiB; 0 turns caching off); release_cached_memory() returns them all to the system.
class MappingCache {
 public:
  static constexpr std::size_t kHugePage = std::size_t{2} << 20, kSmallGranule = std::size_t{64} << 10;
  /// Lengths are rounded so that near sizes share blocks: to huge pages from 2 MB, else to 64 KB.
  static std::size_t round_up(std::size_t n) {
    const std::size_t g = n >= kHugePage ? kHugePage : kSmallGranule;
    return (n + g - 1) / g * g;
  }

  static MappingCache& instance() {
    static MappingCache* cache = new MappingCache;  // never destroyed: storages may outlive statics
    return *cache;
  }

  /// A cached mapping of exactly `length` bytes, or nullptr.
  void* take(std::size_t length) {
    std::lock_guard lock(mutex_);
    const auto it = free_.find(length);
    if (it == free_.end()) {
      trim_locked(length);  // a miss will map `length` more: keep cached + live growth bounded
      return nullptr;
    }
    void* p = it->second;
    free_.erase(it);
    cached_ -= length;
    return p;
  }

  void give(void* p, std::size_t length) {
    {
      std::lock_guard lock(mutex_);
      if (length <= limit_) {
        trim_locked(length);
        free_.emplace(length, p);
        cached_ += length;
        return;
      }
    }
    munmap(p, length);
  }

  void release_all() {
    std::lock_guard lock(mutex_);
    trim_locked(limit_);
  }

  std::size_t cached_bytes() {
    std::lock_guard lock(mutex_);
    return cached_;
  }
  std::size_t limit() const { return limit_; }

 private:
  MappingCache() : limit_(default_limit()) {}

  static std::size_t default_limit() {
    if (!kCacheMappedBlocks) return 0;
    if (const char* env = std::getenv("MOLM_CPU_CACHE_MB")) return std::strtoull(env, nullptr, 10) << 20;
    const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
    const std::size_t physical = pages > 0 && page > 0 ? std::size_t(pages) * std::size_t(page) : 0;
    return std::min(physical / 4, std::size_t{8} << 30);
  }

  /// Unmap cached blocks, largest first, until `incoming` more bytes fit under the limit.
  void trim_locked(std::size_t incoming) {
    while (!free_.empty() && cached_ + incoming > limit_) {
      const auto last = std::prev(free_.end());
      munmap(last->second, last->first);
      cached_ -= last->first;
      free_.erase(last);
    }
  }

  std::mutex mutex_;
  std::multimap<std::size_t, void*> free_;
  std::size_t cached_ = 0;
  const std::size_t limit_;
};

}  // namespace detail

/// Return the big CPU blocks molm keeps for reuse to the system (see detail::MappingCache).
inline void release_cached_memory() { detail::MappingCache::instance().release_all(); }

class Storage {
 public:
  /// Allocate `nbytes` on the CPU, 64-byte aligned, uninitialised.
  static std::shared_ptr<Storage> allocate(std::size_t nbytes) {
    if (nbytes >= kMappedBlock) return allocate_mapped(nbytes);
    // malloc and align by hand rather than aligned_alloc: glibc's aligned_alloc asks the heap for
    // size + alignment, so a freed block never fits the next request of the same size; the heap
    // grew on every call and each new block was faulted in page by page.
    void* raw = nbytes ? std::malloc(nbytes + kAlignment - 1) : nullptr;
    MOLM_CHECK(raw || !nbytes, "storage", "out of memory allocating {} bytes", nbytes);
    const auto addr = reinterpret_cast<std::uintptr_t>(raw);
    void* p = raw ? reinterpret_cast<void*>((addr + kAlignment - 1) / kAlignment * kAlignment) : nullptr;
    return std::shared_ptr<Storage>(new Storage(p, nbytes, kCPU, [raw](void*) { std::free(raw); }));
  }
  /// Wrap memory owned elsewhere (an mmap'ed checkpoint, a caller's buffer); `release` frees it.
  static std::shared_ptr<Storage> wrap(void* data, std::size_t nbytes, Device device,
                                       std::function<void(void*)> release) {
    return std::shared_ptr<Storage>(new Storage(data, nbytes, device, std::move(release)));
  }

  /// A big block is its own mapping, backed by 2 MB pages where transparent huge pages allow:
  /// faulting 64 MB in 4 KB pages costs ~5% of a 4096³ matmul, in 2 MB pages almost nothing.
  /// Freed mappings are kept for reuse (detail::MappingCache): the kernel zeroes every fresh page,
  /// and in a training loop that re-creates the same large activations every step this zeroing
  /// was a fifth of the run time (Uni-Mol, 64 molecules × 72 tokens, forward+backward).
  static std::shared_ptr<Storage> allocate_mapped(std::size_t nbytes) {
    const std::size_t length = detail::MappingCache::round_up(nbytes);
    void* p = detail::MappingCache::instance().take(length);
    if (!p) {
      p = mmap(nullptr, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      MOLM_CHECK(p != MAP_FAILED, "storage", "out of memory mapping {} bytes", nbytes);
      if (length >= detail::MappingCache::kHugePage) madvise(p, length, MADV_HUGEPAGE);  // a hint
    }
    return std::shared_ptr<Storage>(
        new Storage(p, nbytes, kCPU, [length](void* q) { detail::MappingCache::instance().give(q, length); }));
  }

  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;
  ~Storage() {
    if (release_) release_(data_);
  }

  void* data() const { return data_; }
  std::size_t nbytes() const { return nbytes_; }
  Device device() const { return device_; }
  std::uint64_t version() const { return version_.load(std::memory_order_relaxed); }
  void bump_version() { version_.fetch_add(1, std::memory_order_relaxed); }

 private:
  Storage(void* d, std::size_t n, Device dev, std::function<void(void*)> r)
      : data_(d), nbytes_(n), device_(dev), release_(std::move(r)) {}
  void* data_;
  std::size_t nbytes_;
  Device device_;
  std::function<void(void*)> release_;
  std::atomic<std::uint64_t> version_{0};
};

}  // namespace molm
