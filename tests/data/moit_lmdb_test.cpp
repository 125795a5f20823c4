#include "support/testing.hpp"

#include <molm/data/moit_lmdb.hpp>

#include <fstream>

#include <unistd.h>

using namespace molm;
namespace fs = std::filesystem;

namespace {

const fs::path& moit_dir() {
  static const fs::path dir = testing::golden_dir() / "moit";
  return dir;
}

nlohmann::json expected() {
  std::ifstream in(moit_dir() / "expected.json");
  return nlohmann::json::parse(in);
}

}  // namespace

TEST_CASE("MoitLmdb reads both 3D-MoIT record layouts as Python wrote them") {
  const nlohmann::json want = expected();
  for (const char* file : {"pubchem.lmdb", "pubchemqc.lmdb"}) {
    INFO(file);
    const data::MoitLmdb db(moit_dir() / file);
    const auto& records = want.at(file);
    REQUIRE(db.size() == records.size());
    std::vector<std::string> keys;
    for (const auto& [k, v] : records.items()) keys.push_back(k);
    std::sort(keys.begin(), keys.end());
    CHECK(db.keys() == keys);
    for (const auto& [key, rec] : records.items()) {
      INFO(key);
      const data::MoitMolecule m = db.molecule(key);
      CHECK(m.key == key);
      CHECK(m.cid == rec.at("cid").get<std::string>());
      CHECK(m.smiles == rec.at("smiles").get<std::string>());
      CHECK(m.atoms == rec.at("atoms").get<std::vector<std::string>>());
      CHECK(m.description == rec.at("description").get<std::string>());
      CHECK(m.enriched_description == rec.at("enriched_description").get<std::string>());
      const auto& confs = rec.at("conformers");
      REQUIRE(m.conformers.size() == confs.size());
      for (std::size_t c = 0; c < confs.size(); ++c) {
        const Tensor& xyz = m.conformers[c];
        REQUIRE(xyz.dtype() == DType::f64);
        REQUIRE(xyz.shape() == Shape{static_cast<std::int64_t>(m.atoms.size()), 3});
        const double* p = xyz.data<double>();
        for (std::size_t i = 0; i < m.atoms.size(); ++i)
          for (std::size_t d = 0; d < 3; ++d) CHECK(p[i * 3 + d] == confs[c][i][d].get<double>());  // exact
      }
    }
  }
}

TEST_CASE("MoitLmdb: missing keys, wrong layouts and code-running pickles give clear errors") {
  const data::MoitLmdb db(moit_dir() / "pubchem.lmdb");
  CHECK_THROWS_WITH(db.molecule("nope"), Catch::Contains("no record 'nope'"));

  // A scratch database holding hostile and malformed values.
  const fs::path path = fs::temp_directory_path() / ("molm_moit_test_" + std::to_string(::getpid()) + ".lmdb");
  {
    const auto env = data::LmdbEnv::open(path, {});
    auto txn = env.begin(true);
    // protocol 2: GLOBAL 'os system', the argument 'ls', REDUCE — what a malicious dataset would hold.
    txn.put("evil", std::string("\x80\x02" "cos\nsystem\n" "X\x02\x00\x00\x00ls" "\x85" "R.", 23));
    txn.put("list", std::string("\x80\x02]q\x00.", 6));                   // [] instead of a dict
    txn.put("noatoms", std::string("\x80\x02}q\x00.", 6));                // {} without atoms
    txn.put("junk", "definitely not a pickle");
    txn.commit();
  }
  const data::MoitLmdb bad(path);
  CHECK_THROWS_WITH(bad.molecule("evil"), Catch::Contains("os.system") && Catch::Contains("rejected"));
  CHECK_THROWS_WITH(bad.molecule("list"), Catch::Contains("not a dict"));
  CHECK_THROWS_WITH(bad.molecule("noatoms"), Catch::Contains("has no 'atoms'"));
  CHECK_THROWS_AS(bad.molecule("junk"), molm::error);
  std::error_code ec;
  fs::remove(path, ec);
  fs::remove(path.string() + "-lock", ec);
}
