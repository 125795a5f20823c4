// core/storage.hpp: alignment, the mapped-block cache (reuse of a freed block of the same rounded
// length, the bound, release_cached_memory) and the version counter.
#include "support/testing.hpp"

#include <cstring>

using namespace molm;
using detail::MappingCache;

TEST_CASE("small and big storages are 64-byte aligned and writable", "[core][storage]") {
  for (const std::size_t n : {std::size_t{1}, std::size_t{1000}, kMappedBlock - 1, kMappedBlock, std::size_t{5} << 20}) {
    const auto s = Storage::allocate(n);
    INFO(n << " bytes");
    REQUIRE(s->nbytes() == n);
    CHECK(reinterpret_cast<std::uintptr_t>(s->data()) % kAlignment == 0);
    std::memset(s->data(), 0x5a, n);
    CHECK(static_cast<unsigned char*>(s->data())[n - 1] == 0x5a);
  }
  CHECK(Storage::allocate(0)->nbytes() == 0);
}

TEST_CASE("mapped lengths are rounded to 64 KB, and to 2 MB pages from 2 MB", "[core][storage]") {
  CHECK(MappingCache::round_up(1) == 64 << 10);
  CHECK(MappingCache::round_up(64 << 10) == 64 << 10);
  CHECK(MappingCache::round_up((64 << 10) + 1) == 128 << 10);
  CHECK(MappingCache::round_up((2 << 20) - 1) == 2 << 20);
  CHECK(MappingCache::round_up((2 << 20) + 1) == 4 << 20);
}

TEST_CASE("a freed big block serves the next request of the same rounded length", "[core][storage]") {
  auto& cache = MappingCache::instance();
  if (!kCacheMappedBlocks || cache.limit() < (std::size_t{8} << 20)) {
    WARN("mapped-block cache off in this build (sanitizer) or limit below 8 MB: reuse not checked");
    CHECK(cache.cached_bytes() == 0);
    return;
  }
  release_cached_memory();
  REQUIRE(cache.cached_bytes() == 0);
  const std::size_t n = (std::size_t{3} << 20) + 123;  // rounds to 4 MB
  void* first = nullptr;
  {
    const auto a = Storage::allocate(n);
    first = a->data();
    std::memset(first, 1, n);
  }
  CHECK(cache.cached_bytes() == std::size_t{4} << 20);
  {
    const auto b = Storage::allocate((std::size_t{4} << 20) - 5);  // another size, same rounded length
    CHECK(b->data() == first);
    CHECK(cache.cached_bytes() == 0);
    const auto c = Storage::allocate(n);  // the block is taken: a new mapping
    CHECK(c->data() != first);
  }
  CHECK(cache.cached_bytes() == std::size_t{8} << 20);
  release_cached_memory();
  CHECK(cache.cached_bytes() == 0);
}

TEST_CASE("the cache never holds more than its limit", "[core][storage]") {
  auto& cache = MappingCache::instance();
  release_cached_memory();
  {
    std::vector<std::shared_ptr<Storage>> blocks;
    for (int i = 0; i < 6; ++i) blocks.push_back(Storage::allocate((std::size_t(i) + 1) << 20));
  }
  CHECK(cache.cached_bytes() <= cache.limit());
  release_cached_memory();
  CHECK(cache.cached_bytes() == 0);
}

TEST_CASE("in-place writes bump the version", "[core][storage]") {
  const auto s = Storage::allocate(16);
  CHECK(s->version() == 0);
  s->bump_version();
  s->bump_version();
  CHECK(s->version() == 2);
}
