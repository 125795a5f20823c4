// featurize_unimol(RDKit::ROMol) on the shared PubChem conformer of CID 1, read by RDKit with its
// hydrogens (as tests/golden/gen_unimol_features.py reads it): tokens and edge types equal the golden
// cid1_*.npy; coordinates and distances equal the reference's to the last bit, checked through
// cid1_digest.json (dtype, shape, FNV-1a 64 of the exact bytes), since the shared coordinates must not
// be committed. Skips (77) without ../shared/data; featurize_rdkit_errors_test.cpp needs none.
#include "support/testing.hpp"

#include <molm/chem/featurize_rdkit.hpp>
#include <molm/core/hash.hpp>

#include <GraphMol/FileParsers/FileParsers.h>
#include <nlohmann/json.hpp>

#include <fstream>
#include <memory>

using namespace molm;

namespace {
std::filesystem::path sdf() { return testing::shared_data_dir() / "conformers" / "Conformer3D_COMPOUND_CID_1.sdf"; }

[[maybe_unused]] const bool have_sdf = (testing::skip_unless_present({sdf()}), true);

/// FNV-1a 64 of the tensor's bytes in C order (little-endian host, as the generator writes them).
std::string fnv1a64_hex(const Tensor& t) {
  const Tensor c = t.contiguous();
  const auto n = static_cast<std::size_t>(c.numel()) * itemsize(c.dtype());
  return fmt::format("{:016x}", fnv1a64({static_cast<const char*>(c.raw_data()), n}));
}

/// The first values, to see what molm computed when a digest does not match.
std::string head(const Tensor& t, std::size_t count = 8) {
  const auto v = testing::values(t);
  std::string out;
  for (std::size_t i = 0; i < std::min(count, v.size()); ++i) out += fmt::format("{}{:.17g}", i ? ", " : "", v[i]);
  return out;
}
}  // namespace

TEST_CASE("Uni-Mol features of an RDKit molecule match the reference", "[chem][unimol]") {
  std::unique_ptr<RDKit::RWMol> mol(RDKit::MolFileToMol(sdf().string(), /*sanitize=*/true, /*removeHs=*/false));
  REQUIRE(mol != nullptr);
  const auto dir = testing::golden_dir() / "unimol_features";
  std::ifstream in(dir / "cid1_digest.json");
  REQUIRE(in.good());
  const auto digest = nlohmann::json::parse(in);
  REQUIRE(mol->getNumAtoms() == digest.at("atoms").get<unsigned>());

  const auto dict = chem::UnimolDictionary::reference();
  const auto f = chem::featurize_unimol(*mol, dict);
  for (const auto& [got, file] : {std::pair{f.tokens, "cid1_tokens.npy"}, std::pair{f.edge_types, "cid1_edge_type.npy"}}) {
    INFO(file);
    const Tensor want = load_npy(dir / file);
    REQUIRE(got.shape() == want.shape());
    REQUIRE(got.dtype() == want.dtype());
    REQUIRE(testing::values(got) == testing::values(want));
  }
  for (const auto& [got, key] : {std::pair{f.coordinates, "coord"}, std::pair{f.distances, "distance"}}) {
    const auto& want = digest.at(key);
    INFO(key << ": molm's first values " << head(got));
    CHECK(want.at("dtype").get<std::string>() == (got.dtype() == DType::f64 ? "float64" : "float32"));
    CHECK(got.shape().vec() == want.at("shape").get<std::vector<std::int64_t>>());
    CHECK(fnv1a64_hex(got) == want.at("fnv1a64").get<std::string>());
  }
}
