// Storage: a ref-counted, 64-byte aligned block of bytes shared by a tensor and all its views.
//
// It also carries the version counter that autograd uses to detect a tensor that was saved for
// backward and then modified in place: every in-place write bumps it.
#pragma once

#include "molm/core/device.hpp"
#include "molm/core/error.hpp"

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <memory>

#include <sys/mman.h>

namespace molm {

inline constexpr std::size_t kAlignment = 64;
inline constexpr std::size_t kHugeBlock = std::size_t{16} << 20;  // from here on: own mapping, huge pages

class Storage {
 public:
  /// Allocate `nbytes` on the CPU, 64-byte aligned, uninitialised.
  static std::shared_ptr<Storage> allocate(std::size_t nbytes) {
    if (nbytes >= kHugeBlock) return allocate_mapped(nbytes);
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
  static std::shared_ptr<Storage> allocate_mapped(std::size_t nbytes) {
    void* p = mmap(nullptr, nbytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    MOLM_CHECK(p != MAP_FAILED, "storage", "out of memory mapping {} bytes", nbytes);
    madvise(p, nbytes, MADV_HUGEPAGE);  // a hint; ignored where THP is off
    return std::shared_ptr<Storage>(new Storage(p, nbytes, kCPU, [nbytes](void* q) { munmap(q, nbytes); }));
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
