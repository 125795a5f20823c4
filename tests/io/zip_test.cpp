// The zip layer (io/zip.hpp) on archives written by torch.save, Python's zipfile and by hand:
// listing, in-place stored entries, inflation, ZIP64 both ways, and the checks minizip leaves to us.
#include "support/testing.hpp"

#include <molm/io/zip.hpp>

#include <fstream>
#include <functional>
#include <iterator>
#include <map>
#include <random>

using namespace molm;

namespace {

std::filesystem::path torch_dir() { return testing::golden_dir() / "torch"; }

/// name -> bytes of every entry.
std::map<std::string, std::string> contents(const io::ZipArchive& z) {
  std::map<std::string, std::string> out;
  for (const auto& e : z.entries()) out[e.name] = z.read(e, 1 << 20);
  return out;
}

}  // namespace

TEST_CASE("zip: a torch.save archive lists its records, stored and 64-byte aligned", "[io][zip]") {
  const auto z = io::ZipArchive::open(torch_dir() / "plain.pt");
  REQUIRE(z.size() > 0);
  REQUIRE(z.find("plain/data.pkl") != nullptr);
  REQUIRE(z.find("plain/byteorder") != nullptr);
  CHECK(z.find("plain/nothing") == nullptr);
  CHECK_THAT(testing::error_of([&] { z.entry("plain/nothing"); }), Catch::Contains("no entry named 'plain/nothing'"));
  int records = 0;
  for (const auto& e : z.entries()) {
    INFO(e.name);
    CHECK(e.stored());
    CHECK_FALSE(e.encrypted);
    CHECK(e.compressed_size == e.uncompressed_size);
    CHECK(e.data_offset + e.compressed_size <= z.size());
    if (e.name.starts_with("plain/data/")) {
      ++records;
      CHECK(e.data_offset % 64 == 0);  // torch pads records so they can be mapped in place
    }
  }
  CHECK(records == 14);  // 15 tensors, two of which share one storage
  // stored(): a span into the archive's own bytes; read(): a CRC-checked copy
  const auto& bo = z.entry("plain/byteorder");
  const auto span = z.stored(bo);
  CHECK(span.data() == z.data() + bo.data_offset);
  CHECK(std::string(reinterpret_cast<const char*>(span.data()), span.size()) == "little");
  CHECK(z.read(bo, 64) == "little");
  CHECK_NOTHROW(z.verify_crc(z.entry("plain/data.pkl")));
  CHECK_THAT(testing::error_of([&] { z.read(z.entry("plain/data.pkl"), 10); }), Catch::Contains("over the limit of 10"));
}

TEST_CASE("zip: ZIP64 archives (full ZIP64, local-only ZIP64) and deflated entries read the same bytes", "[io][zip]") {
  const auto plain = contents(io::ZipArchive::open(torch_dir() / "plain.pt"));
  for (const char* name : {"zip64.pt", "zip64_local.pt", "deflated.pt"}) {
    INFO(name);
    const auto z = io::ZipArchive::open(torch_dir() / name);
    CHECK(contents(z) == plain);
  }
  // full ZIP64: every size and offset comes from the ZIP64 extra field, and the records stay aligned
  const auto z64 = io::ZipArchive::open(torch_dir() / "zip64.pt");
  for (const auto& e : z64.entries()) {
    INFO(e.name);
    CHECK(e.compressed_size != 0xFFFFFFFFu);
    CHECK(e.data_offset % 64 == 0);
  }
  const auto deflated = io::ZipArchive::open(torch_dir() / "deflated.pt");
  const auto& pkl = deflated.entry("plain/data.pkl");
  CHECK(pkl.method == 8);
  CHECK(pkl.compressed_size < pkl.uncompressed_size);
  CHECK_THAT(testing::error_of([&] { deflated.stored(pkl); }), Catch::Contains("is compressed (method 8)"));
}

TEST_CASE("zip: zip bombs, damaged data and damaged directories are errors", "[io][zip]") {
  auto open = [](const char* name) { return io::ZipArchive::open(torch_dir() / name); };
  CHECK_THAT(testing::error_of([&] { open("bomb_pkl.pt").read(open("bomb_pkl.pt").entry("archive/data.pkl"), 1 << 30); }),
             Catch::Contains("inflates to more than its declared 100 bytes"));
  const auto declared = open("bomb_declared.pt");
  CHECK_THAT(testing::error_of([&] { declared.read(declared.entry("archive/data.pkl"), 1 << 30); }),
             Catch::Contains("declares 200000000 bytes") && Catch::Contains("more than deflate can produce"));
  CHECK_THAT(testing::error_of([&] { open("overlap.zip"); }), Catch::Contains("overlap"));
  CHECK_THAT(testing::error_of([&] { open("duplicate.zip"); }), Catch::Contains("'archive/data.pkl' appears twice"));

  // A flipped byte in a stored entry: read() checks the CRC; in a deflated one, zlib or the CRC object.
  auto bytes = testing::read_file_bytes(torch_dir() / "plain.pt");
  {
    const auto z = io::ZipArchive::from_memory(bytes, "plain.pt");
    const auto& e = z.entry("plain/data.pkl");
    auto bad = bytes;
    bad[e.data_offset + 5] ^= std::byte{0x10};
    const auto zb = io::ZipArchive::from_memory(bad, "bad.pt");
    CHECK_THAT(testing::error_of([&] { zb.read(zb.entry("plain/data.pkl"), 1 << 20); }), Catch::Contains("fails its CRC check"));
    CHECK_THAT(testing::error_of([&] { zb.verify_crc(zb.entry("plain/data.pkl")); }), Catch::Contains("fails its CRC check"));
  }
  auto dbytes = testing::read_file_bytes(torch_dir() / "deflated.pt");
  {
    const auto z = io::ZipArchive::from_memory(dbytes, "deflated.pt");
    const auto& e = z.entry("plain/data.pkl");
    auto bad = dbytes;
    bad[e.data_offset + e.compressed_size / 2] ^= std::byte{0x55};
    const auto zb = io::ZipArchive::from_memory(bad, "bad.pt");
    CHECK_THAT(testing::error_of([&] { zb.read(zb.entry("plain/data.pkl"), 1 << 20); }),
               Catch::Contains("bad.pt: entry 'plain/data.pkl'"));
  }

  // Not zips at all; every truncation (the end-of-central-directory record goes first)
  CHECK_THAT(testing::error_of([] { io::ZipArchive::from_memory({}, "empty"); }), Catch::Contains("empty: not a zip archive"));
  std::vector<std::byte> text(100, std::byte{'x'});
  CHECK_THAT(testing::error_of([&] { io::ZipArchive::from_memory(text, "text"); }), Catch::Contains("not a zip archive"));
  for (std::size_t k = 1; k < 64; ++k) {
    const std::size_t n = bytes.size() * k / 64;
    INFO("truncated to " << n << " of " << bytes.size() << " bytes");
    CHECK_THROWS_AS(io::ZipArchive::from_memory({bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(n)}, "cut"),
                    error);
  }
}

TEST_CASE("zip: random corruption of a zip64 archive never crashes", "[io][zip]") {
  const auto bytes = testing::read_file_bytes(torch_dir() / "zip64.pt");
  std::mt19937_64 rng(11);
  int opened = 0, rejected = 0;
  for (int trial = 0; trial < 500; ++trial) {
    auto bad = bytes;
    // Hit the directories hardest: half the flips land in the last 1 KB (central directory, EOCD).
    for (int f = 0; f < 3; ++f) {
      const std::size_t at =
          rng() % 2 ? rng() % bad.size() : bad.size() - 1 - rng() % std::min<std::size_t>(1024, bad.size());
      bad[at] ^= static_cast<std::byte>(1 + rng() % 255);
    }
    try {
      const auto z = io::ZipArchive::from_memory(bad, "fuzzed");
      for (const auto& e : z.entries()) {
        try {
          (void)z.read(e, 1 << 20);
        } catch (const error&) {
        }
      }
      ++opened;
    } catch (const error&) {
      ++rejected;
    }
  }
  CHECK(opened + rejected == 500);
  CHECK(rejected > 0);
}
