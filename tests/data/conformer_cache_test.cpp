#include "support/testing.hpp"

#include <molm/data/conformer_cache.hpp>

#include <sys/wait.h>
#include <unistd.h>

using namespace molm;
using data::CachedConformer;
using data::ConformerCache;
namespace fs = std::filesystem;

namespace {

/// A database file that does not exist yet, in a fresh scratch folder.
fs::path scratch_file(const std::string& name) { return testing::scratch_dir(name) / name; }

CachedConformer water(std::uint64_t settings) {
  CachedConformer c;
  c.smiles = "O";
  c.settings = settings;
  c.elements = {"O", "H", "H"};
  c.coordinates = {0.0, 0.0, 0.1173, 0.0, 0.7572, -0.4692, 0.0, -0.7572, -0.4692};
  c.provenance = {{"method", "ETKDGv3"}, {"seed", 42}, {"mmff", "converged"}};
  return c;
}

CachedConformer chain(int n, std::uint64_t settings) {
  CachedConformer c;
  c.smiles = std::string(static_cast<std::size_t>(n), 'C');
  c.settings = settings;
  for (int i = 0; i < n; ++i) {
    c.elements.push_back("C");
    for (int d = 0; d < 3; ++d) c.coordinates.push_back(1.54 * i + 0.1 * d);
  }
  return c;
}

void require_same(const CachedConformer& a, const CachedConformer& b) {
  CHECK(a.smiles == b.smiles);
  CHECK(a.settings == b.settings);
  CHECK(a.elements == b.elements);
  CHECK(a.coordinates == b.coordinates);  // bit-exact: stored as raw doubles
  CHECK(a.provenance == b.provenance);
}

}  // namespace

TEST_CASE("settings_hash is stable and ignores key order") {
  const auto a = data::settings_hash({{"seed", 42}, {"method", "ETKDGv3"}});
  const auto b = data::settings_hash(nlohmann::json::parse(R"({"method": "ETKDGv3", "seed": 42})"));
  CHECK(a == b);
  CHECK(a != data::settings_hash({{"seed", 43}, {"method", "ETKDGv3"}}));
  CHECK(data::fnv1a64("") == 0xcbf29ce484222325ull);  // FNV-1a's offset basis
  CHECK(data::fnv1a64("a") == 0xaf63dc4c8601ec8cull);  // a published FNV-1a 64 test vector
}

TEST_CASE("ConformerCache stores and returns records exactly, keyed by SMILES and settings") {
  const ConformerCache cache(scratch_file("roundtrip.lmdb"));
  const std::uint64_t s1 = data::settings_hash({{"seed", 1}}), s2 = data::settings_hash({{"seed", 2}});
  CHECK_FALSE(cache.get("O", s1));
  {
    auto w = cache.writer();
    w.put(water(s1));
    w.put(chain(700, s1));  // a SMILES longer than an LMDB key: stored under its hash
    CHECK(w.pending() == 2);
    w.commit();
  }
  CHECK(cache.size() == 2);
  require_same(*cache.get("O", s1), water(s1));
  require_same(*cache.get(std::string(700, 'C'), s1), chain(700, s1));
  CHECK_FALSE(cache.get("O", s2));    // other settings: a miss
  CHECK_FALSE(cache.get("OO", s1));   // other molecule: a miss
  CHECK(ConformerCache::key(std::string(700, 'C'), s1, 511).find('#') != std::string::npos);

  std::size_t seen = 0;
  cache.for_each([&](const CachedConformer&) { ++seen; });
  CHECK(seen == 2);

  // Uncommitted writes vanish.
  { auto w = cache.writer(); w.put(water(s2)); }
  CHECK_FALSE(cache.get("O", s2));

  CachedConformer bad = water(s1);
  bad.coordinates.pop_back();
  auto w = cache.writer();
  CHECK_THROWS_WITH(w.put(bad), Catch::Contains("3 per atom"));
}

TEST_CASE("ConformerCache reports corrupt records by key and never returns them") {
  const auto path = scratch_file("corrupt.lmdb");
  const ConformerCache cache(path);
  const std::uint64_t s = data::settings_hash({{"seed", 1}});
  const std::string good = ConformerCache::encode(water(s));
  const std::string k = ConformerCache::key("O", s, 511);

  auto store = [&](const std::string& value) {
    const auto env = data::LmdbEnv::open(path, {});
    auto txn = env.begin(true);
    txn.put(k, value);
    txn.commit();
  };
  // Every single-byte change anywhere in the record is caught (header checks or the CRC).
  for (std::size_t i = 0; i < good.size(); ++i) {
    std::string flipped = good;
    flipped[i] = static_cast<char>(flipped[i] ^ 0x5a);
    store(flipped);
    INFO("byte " << i);
    CHECK_THROWS_AS(cache.get("O", s), molm::error);
  }
  // Every truncation too.
  for (std::size_t n = 0; n < good.size(); n += 7) {
    store(good.substr(0, n));
    CHECK_THROWS_WITH(cache.get("O", s), Catch::Contains("corrupt") && Catch::Contains(k));
  }
  store(good);
  require_same(*cache.get("O", s), water(s));
}

TEST_CASE("ConformerCache: readers see committed batches while a writer works; a killed writer loses only its batch") {
  const auto path = scratch_file("killed.lmdb");
  const std::uint64_t s = data::settings_hash({{"seed", 7}});
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    // The child: one committed batch of 50, then a second batch killed before its commit.
    try {
      const ConformerCache cache(path);
      auto first = cache.writer();
      for (int i = 1; i <= 50; ++i) first.put(chain(i, s));
      first.commit();
      auto second = cache.writer();
      for (int i = 51; i <= 100; ++i) second.put(chain(i, s));
      ::_exit(0);  // as if killed: no commit, no destructors
    } catch (...) {
      ::_exit(3);
    }
  }
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  REQUIRE(WIFEXITED(status));
  REQUIRE(WEXITSTATUS(status) == 0);

  const ConformerCache cache(path);
  CHECK(cache.size() == 50);
  for (int i = 1; i <= 50; ++i) REQUIRE(cache.get(std::string(static_cast<std::size_t>(i), 'C'), s));
  CHECK_FALSE(cache.get(std::string(51, 'C'), s));

  // A reader opened before a writer commits keeps its snapshot; new readers see the commit.
  const auto env = data::LmdbEnv::open(path, {});
  auto reader = env.begin(false);
  auto w = cache.writer();
  w.put(chain(51, s));
  w.commit();
  CHECK(reader.size() == 50);
  CHECK(cache.size() == 51);
}

TEST_CASE("a failure is a record without atoms that keeps its reason") {
  const ConformerCache cache(scratch_file("failure.lmdb"));
  CachedConformer failure;
  failure.smiles = "N[Co](N)(N)(N)(N)N";
  failure.settings = 7;
  failure.provenance = {{"status", "embed_failed"}, {"error", "ETKDGv3 found no conformer in 2 attempt(s)"}};
  {
    auto w = cache.writer();
    w.put(failure);
    w.put(water(7));
    w.commit();
  }
  const auto back = cache.get(failure.smiles, 7);
  REQUIRE(back.has_value());
  CHECK_FALSE(back->ok());
  require_same(*back, failure);
  CHECK(cache.get("O", 7)->ok());
}
