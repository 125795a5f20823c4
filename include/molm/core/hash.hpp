// A 64-bit FNV-1a hash of bytes: stable across runs, builds and machines (std::hash is not), so it
// can name cache entries on disk and compare data with what a Python script hashed. The one copy in
// molm: the conformer cache's keys, the oneDNN primitive cache's buckets and the tests' digests of
// tensors, texts and token ids all call it.
//
//   molm::fnv1a64("a")                                  // 0xaf63dc4c8601ec8c
//   molm::fnv1a64(std::as_bytes(std::span(ints)))       // host byte order: fine in memory, not on disk
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace molm {

inline constexpr std::uint64_t kFnv1a64OffsetBasis = 0xcbf29ce484222325ull;
inline constexpr std::uint64_t kFnv1a64Prime = 0x100000001b3ull;

/// FNV-1a 64 of raw bytes. A value that must match another machine's (a golden file, a Python
/// script) is hashed over bytes in a fixed order, e.g. integers written out little-endian.
inline std::uint64_t fnv1a64(std::span<const std::byte> bytes) {
  std::uint64_t h = kFnv1a64OffsetBasis;
  for (const std::byte b : bytes) {
    h ^= static_cast<std::uint64_t>(b);
    h *= kFnv1a64Prime;
  }
  return h;
}

/// FNV-1a 64 of the bytes of a string (UTF-8 text is hashed as its bytes).
inline std::uint64_t fnv1a64(std::string_view bytes) {
  return fnv1a64(std::as_bytes(std::span<const char>(bytes.data(), bytes.size())));
}

}  // namespace molm
