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

namespace molm {

inline constexpr std::size_t kAlignment = 64;

class Storage {
 public:
  /// Allocate `nbytes` on the CPU, 64-byte aligned, uninitialised.
  static std::shared_ptr<Storage> allocate(std::size_t nbytes) {
    const std::size_t rounded = ((nbytes + kAlignment - 1) / kAlignment) * kAlignment;
    void* p = rounded ? std::aligned_alloc(kAlignment, rounded) : nullptr;
    MOLM_CHECK(p || !rounded, "storage", "out of memory allocating {} bytes", nbytes);
    return std::shared_ptr<Storage>(new Storage(p, nbytes, kCPU, [](void* q) { std::free(q); }));
  }
  /// Wrap memory owned elsewhere (an mmap'ed checkpoint, a caller's buffer); `release` frees it.
  static std::shared_ptr<Storage> wrap(void* data, std::size_t nbytes, Device device,
                                       std::function<void(void*)> release) {
    return std::shared_ptr<Storage>(new Storage(data, nbytes, device, std::move(release)));
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
