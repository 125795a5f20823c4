// The oneDNN plumbing every primitive shares: the process-wide CPU engine, a stream per thread, the
// molm → oneDNN dtype map, memory descriptors from (shape, strides), and a per-thread scratchpad.
//
// Primitives run with a user-provided scratchpad (scratchpad_mode::user): with oneDNN's default
// library-managed scratchpad a primitive may not run concurrently from two threads, and a
// per-thread buffer that only grows costs nothing after the first call.
#pragma once

#include "molm/core/dtype.hpp"
#include "molm/core/error.hpp"
#include "molm/core/shape.hpp"

#include <dnnl.hpp>

#include <cstdlib>
#include <memory>

namespace molm::backend::onednn {

/// The CPU engine, created on first use (thread-safe: a function-local static).
inline const dnnl::engine& cpu_engine() {
  static const dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  return engine;
}

/// This thread's stream on cpu_engine(). A CPU stream executes in order and in the caller's thread;
/// one per thread keeps callers on different threads from sharing the object.
inline dnnl::stream& cpu_stream() {
  thread_local dnnl::stream stream(cpu_engine());
  return stream;
}

/// True when oneDNN has a CPU data type for `t` that molm sends to it.
inline bool has_dnnl_type(DType t) { return t == DType::f32 || t == DType::bf16; }

inline dnnl::memory::data_type to_dnnl(DType t) {
  switch (t) {
    case DType::f32: return dnnl::memory::data_type::f32;
    case DType::bf16: return dnnl::memory::data_type::bf16;
    default: MOLM_THROW("onednn", "dtype {} has no oneDNN path in molm", name(t));
  }
}

inline dnnl::memory::dims to_dims(const Shape& s) { return {s.begin(), s.end()}; }

/// A plain (strided) memory descriptor.
inline dnnl::memory::desc plain_desc(const Shape& shape, DType t, const Shape& strides) {
  return {to_dims(shape), to_dnnl(t), to_dims(strides)};
}

/// This thread's scratchpad, at least `bytes` long, 64-byte aligned; valid until the next call here.
inline void* scratchpad(std::size_t bytes) {
  struct Buffer {
    std::unique_ptr<void, decltype(&std::free)> data{nullptr, &std::free};
    std::size_t size = 0;
  };
  thread_local Buffer buf;
  if (bytes > buf.size) {
    const std::size_t rounded = (bytes + 63) / 64 * 64;
    buf.data.reset(std::aligned_alloc(64, rounded));
    MOLM_CHECK(buf.data, "onednn", "out of memory allocating a {} byte scratchpad", rounded);
    buf.size = rounded;
  }
  return buf.data.get();
}

}  // namespace molm::backend::onednn
