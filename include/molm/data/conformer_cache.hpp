// The conformer cache: conformers computed once (by `molm prepare`) and read back by training and
// inference, keyed by canonical isomeric SMILES and the settings that made them.
//
//   data::ConformerCache cache("conformers.lmdb");
//   const auto settings = data::settings_hash({{"method", "ETKDGv3+MMFF94"}, {"seed", 42}});
//   if (auto hit = cache.get(smiles, settings)) use(hit->elements, hit->coordinates);
//   auto batch = cache.writer();   batch.put(record);  ...  batch.commit();   // all or nothing
//
// Key   = 16 hex digits of the settings hash, ':', the SMILES — or, for SMILES too long for an LMDB
//         key (511 bytes), '#' and a 64-bit hash of it; the record holds the full SMILES and get()
//         checks it, so a hash collision reads as a miss, never as the wrong molecule.
// Value = "MOLMCONF" | u32 format version | u32 CRC-32 of the body | u64 body length | body, where
//         body is CBOR (nlohmann-json): smiles, settings hash, elements, coordinates (f64 LE bytes),
//         provenance (a JSON object: method, seed, MMFF status, ...). A failed molecule is stored
//         too, with no atoms and the provenance of the failure (CachedConformer::ok() is false).
// A record that fails any check (magic, version, length, CRC, CBOR, field types, sizes) is reported
// as corrupt with the key, never returned. Writes go through LMDB transactions, so a writer killed
// mid-batch loses that batch only; readers see the last committed state while a writer appends.
#pragma once

#include "molm/core/error.hpp"
#include "molm/core/hash.hpp"
#include "molm/data/lmdb.hpp"

#include <nlohmann/json.hpp>
#include <zlib.h>

#include <algorithm>
#include <bit>
#include <cstdint>
#include <cstring>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace molm::data {

using molm::fnv1a64;  // core/hash.hpp

/// The hash of the settings a conformer depends on (method, seed, force field, H removal, crop, ...).
/// nlohmann::json orders object keys, so equal settings hash equally whatever their insertion order.
inline std::uint64_t settings_hash(const nlohmann::json& settings) { return fnv1a64(settings.dump()); }

struct CachedConformer {
  std::string smiles;                  ///< canonical isomeric SMILES
  std::uint64_t settings = 0;          ///< settings_hash() of what made it
  std::vector<std::string> elements;   ///< one symbol per atom
  std::vector<double> coordinates;     ///< 3 per atom, Å
  nlohmann::json provenance = nlohmann::json::object();

  /// A record without atoms remembers a failure (its provenance says why), so a rerun of
  /// `molm prepare` does not spend a minute again on a molecule ETKDG cannot embed.
  bool ok() const { return !elements.empty(); }
};

class ConformerCache {
 public:
  static constexpr char kMagic[8] = {'M', 'O', 'L', 'M', 'C', 'O', 'N', 'F'};
  static constexpr std::uint32_t kVersion = 1;
  static constexpr std::size_t kHeaderBytes = 8 + 4 + 4 + 8;

  explicit ConformerCache(const std::filesystem::path& path, LmdbOptions options = {})
      : env_(LmdbEnv::open(path, options)) {}

  /// The record for `smiles` made with `settings`, or nullopt. Throws molm::error if it is corrupt.
  /// Check ok(): the record may say that this molecule failed with these settings.
  std::optional<CachedConformer> get(const std::string& smiles, std::uint64_t settings) const {
    auto txn = env_.begin(false);
    const std::string k = key(smiles, settings, txn.max_key_size());
    const auto v = txn.get(k);
    if (!v) return std::nullopt;
    CachedConformer c = decode(*v, k);
    if (c.smiles != smiles || c.settings != settings) return std::nullopt;  // a hashed key's collision
    return c;
  }
  bool contains(const std::string& smiles, std::uint64_t settings) const { return get(smiles, settings).has_value(); }

  /// Records in the cache (all settings).
  std::size_t size() const { return env_.begin(false).size(); }

  /// Every record, in key order (settings hash, then SMILES); a corrupt one throws, naming its key.
  void for_each(const std::function<void(const CachedConformer&)>& visit) const {
    auto txn = env_.begin(false);
    txn.scan([&](std::string_view k, std::string_view v) {
      visit(decode(v, std::string(k)));
      return true;
    });
  }

  /// A batch of writes: nothing is visible (or durable) before commit(); dropped if never committed.
  class Writer {
   public:
    explicit Writer(const LmdbEnv& env) : txn_(env.begin(true)) {}
    void put(const CachedConformer& c) {
      MOLM_CHECK(!c.smiles.empty(), "conformer cache", "a record needs its SMILES");
      MOLM_CHECK(c.coordinates.size() == 3 * c.elements.size(), "conformer cache",
                 "'{}': {} coordinates for {} atoms (need 3 per atom)", c.smiles, c.coordinates.size(),
                 c.elements.size());
      txn_.put(key(c.smiles, c.settings, txn_.max_key_size()), encode(c));
      ++pending_;
    }
    std::size_t pending() const { return pending_; }
    void commit() { txn_.commit(); }

   private:
    LmdbTxn txn_;
    std::size_t pending_ = 0;
  };
  Writer writer() const { return Writer(env_); }

  const std::filesystem::path& path() const { return env_.path(); }

  // ---- the record format (public for tests and tools) -----------------------------------------------

  static std::string key(const std::string& smiles, std::uint64_t settings, std::size_t max_key) {
    std::string k = fmt::format("{:016x}:", settings);
    if (k.size() + smiles.size() <= max_key) return k + smiles;
    return k + fmt::format("#{:016x}", fnv1a64(smiles));
  }

  static std::string encode(const CachedConformer& c) {
    static_assert(std::endian::native == std::endian::little, "records store little-endian doubles");
    nlohmann::json body = {{"smiles", c.smiles},
                           {"settings", c.settings},
                           {"elements", c.elements},
                           {"provenance", c.provenance}};
    std::vector<std::uint8_t> xyz(c.coordinates.size() * sizeof(double));
    if (!xyz.empty()) std::memcpy(xyz.data(), c.coordinates.data(), xyz.size());
    body["coordinates"] = nlohmann::json::binary(std::move(xyz));
    const std::vector<std::uint8_t> cbor = nlohmann::json::to_cbor(body);

    std::string out(kHeaderBytes + cbor.size(), '\0');
    std::memcpy(out.data(), kMagic, 8);
    put_le(out.data() + 8, kVersion);
    put_le(out.data() + 12, crc32_of(cbor.data(), cbor.size()));
    put_le(out.data() + 16, static_cast<std::uint64_t>(cbor.size()));
    std::memcpy(out.data() + kHeaderBytes, cbor.data(), cbor.size());
    return out;
  }

  static CachedConformer decode(std::string_view v, const std::string& where) {
    constexpr const char* C = "conformer cache";
    MOLM_CHECK(v.size() >= kHeaderBytes && std::memcmp(v.data(), kMagic, 8) == 0, C,
               "record '{}' is corrupt: no MOLMCONF header ({} bytes)", where, v.size());
    const auto version = get_le<std::uint32_t>(v.data() + 8);
    MOLM_CHECK(version == kVersion, C, "record '{}' has format version {}; this molm reads version {} (re-run molm prepare)",
               where, version, kVersion);
    const auto crc = get_le<std::uint32_t>(v.data() + 12);
    const auto n = get_le<std::uint64_t>(v.data() + 16);
    MOLM_CHECK(n == v.size() - kHeaderBytes, C, "record '{}' is corrupt: body of {} bytes declared, {} present", where,
               n, v.size() - kHeaderBytes);
    const auto* body = reinterpret_cast<const std::uint8_t*>(v.data() + kHeaderBytes);
    MOLM_CHECK(crc32_of(body, n) == crc, C, "record '{}' is corrupt: CRC-32 mismatch", where);

    CachedConformer c;
    try {
      const nlohmann::json j = nlohmann::json::from_cbor(body, body + n);
      c.smiles = j.at("smiles").get<std::string>();
      c.settings = j.at("settings").get<std::uint64_t>();
      c.elements = j.at("elements").get<std::vector<std::string>>();
      c.provenance = j.at("provenance");
      const auto& xyz = j.at("coordinates").get_binary();
      MOLM_CHECK(xyz.size() == 3 * sizeof(double) * c.elements.size(), C,
                 "record '{}' is corrupt: {} coordinate bytes for {} atoms", where, xyz.size(), c.elements.size());
      c.coordinates.resize(xyz.size() / sizeof(double));
      if (!xyz.empty()) std::memcpy(c.coordinates.data(), xyz.data(), xyz.size());
    } catch (const nlohmann::json::exception& e) {
      MOLM_THROW(C, "record '{}' is corrupt: {}", where, e.what());
    }
    return c;
  }

 private:
  static std::uint32_t crc32_of(const std::uint8_t* p, std::size_t n) {
    uLong crc = ::crc32(0L, Z_NULL, 0);
    while (n > 0) {  // zlib takes 32-bit lengths
      const auto chunk = static_cast<uInt>(std::min<std::size_t>(n, 1u << 30));
      crc = ::crc32(crc, p, chunk);
      p += chunk;
      n -= chunk;
    }
    return static_cast<std::uint32_t>(crc);
  }
  template <class T> static void put_le(char* p, T v) { std::memcpy(p, &v, sizeof v); }
  template <class T> static T get_le(const char* p) {
    T v;
    std::memcpy(&v, p, sizeof v);
    return v;
  }

  LmdbEnv env_;
};

}  // namespace molm::data
