// featurize_unimol(RDKit::ROMol): the shared PubChem conformer read by RDKit (hydrogens kept, as the
// golden generator reads it) gives the golden features of tests/golden/data/unimol_features/cid1_*.
#include "support/testing.hpp"

#include <molm/chem/featurize_rdkit.hpp>

#include <GraphMol/FileParsers/FileParsers.h>
#include <GraphMol/SmilesParse/SmilesParse.h>

#include <memory>

using namespace molm;

TEST_CASE("Uni-Mol features of an RDKit molecule match the reference", "[chem][unimol]") {
  const auto sdf = molm::testing::shared_data_dir() / "conformers" / "Conformer3D_COMPOUND_CID_1.sdf";
  if (!std::filesystem::exists(sdf)) {
    WARN("skipped: " << sdf << " not found");
    return;
  }
  std::unique_ptr<RDKit::RWMol> mol(RDKit::MolFileToMol(sdf.string(), /*sanitize=*/true, /*removeHs=*/false));
  REQUIRE(mol != nullptr);
  REQUIRE(mol->getNumAtoms() == 31);

  const auto dict = chem::UnimolDictionary::reference();
  const auto f = chem::featurize_unimol(*mol, dict);
  const auto dir = molm::testing::golden_dir() / "unimol_features";
  for (const auto& [got, file] : {std::pair{f.tokens, "cid1_tokens.npy"}, std::pair{f.edge_types, "cid1_edge_type.npy"},
                                  std::pair{f.coordinates, "cid1_coord.npy"}, std::pair{f.distances, "cid1_distance.npy"}}) {
    INFO(file);
    const Tensor want = load_npy(dir / file);
    REQUIRE(got.shape() == want.shape());
    REQUIRE(got.dtype() == want.dtype());
    REQUIRE(molm::testing::values(got) == molm::testing::values(want));
  }

  std::unique_ptr<RDKit::ROMol> flat(RDKit::SmilesToMol("CCO"));
  CHECK_THROWS_WITH(chem::featurize_unimol(*flat, dict), Catch::Contains("no conformer"));
  CHECK_THROWS_WITH(chem::featurize_unimol(*mol, dict, 7), Catch::Contains("no conformer with id 7"));
}
