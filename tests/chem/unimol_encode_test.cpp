// End to end on a real conformer: the shared PubChem 3D SDF of CID 1 → molm's reader, conformer
// (its own 3D coordinates kept), featurization and the `tiny` Uni-Mol encoder — against the Python
// path (unimol-tools' featurization of the same conformer through the reference modules,
// tests/golden/gen_unimol.py → cid1_f32.safetensors). Skips (77) without ../shared/data.
#include "support/testing.hpp"

#include <molm/chem/readers.hpp>
#include <molm/io/safetensors.hpp>
#include <molm/models/unimol/checkpoint.hpp>
#include <molm/models/unimol/molecule_encoder.hpp>

using namespace molm;
namespace unimol = molm::models::unimol;

namespace {
std::filesystem::path sdf() { return testing::shared_data_dir() / "conformers" / "Conformer3D_COMPOUND_CID_1.sdf"; }

[[maybe_unused]] const bool have_sdf = (testing::skip_unless_present({sdf()}), true);
}  // namespace

TEST_CASE("SDF conformer -> molm features -> encoder equals the Python path") {
  const auto molecules = chem::read_molecules(sdf());
  REQUIRE(molecules.size() == 1);
  REQUIRE(molecules[0].has_3d);
  const unimol::MoleculeEncoder encoder(unimol::load_original(testing::golden_dir() / "unimol" / "tiny.pt"));
  const auto e = encoder.encode(molecules[0]);
  CHECK(e.conformer.provenance.method == chem::ConformerMethod::user_3d);  // not re-embedded
  const Tensor expected = load_safetensors(testing::golden_dir() / "unimol" / "cid1_f32.safetensors").at("atoms");
  REQUIRE(expected.shape() == Shape({1, 16, 32}));
  REQUIRE(e.atoms.shape() == Shape({14, 32}));
  CHECK(e.symbols.size() == 14);
  CHECK(e.atom_indices.size() == 14);
  testing::require_close(e.cls, expected.select(0, 0).select(0, 0), 1e-5, 1e-6);
  testing::require_close(e.atoms, expected.select(0, 0).narrow(0, 1, 14), 1e-5, 1e-6);

  // The same molecule in a batch with others gives the same rows (padding does not leak in).
  const auto other = chem::embed(chem::from_smiles("CCOC(=O)c1ccccc1N"), {});
  std::vector<chem::Conformer> batch = {other, e.conformer, other};
  const auto many = encoder.encode(batch);
  REQUIRE(many.size() == 3);
  testing::require_close(many[1].atoms, e.atoms, 1e-5, 1e-6);

  CHECK_THROWS_WITH(encoder.encode(chem::parse_smiles("C1CC")), Catch::Contains("no conformer"));
}
