// A 64-bit FNV-1a hash of bytes: stable across runs, builds and machines (std::hash is not), so it
// can name cache entries on disk and compare data with what a Python script hashed.
#pragma once

#include <cstdint>
#include <string_view>

namespace molm {

inline std::uint64_t fnv1a64(std::string_view bytes) {
  std::uint64_t h = 0xcbf29ce484222325ull;
  for (const char c : bytes) {
    h ^= static_cast<unsigned char>(c);
    h *= 0x100000001b3ull;
  }
  return h;
}

}  // namespace molm
