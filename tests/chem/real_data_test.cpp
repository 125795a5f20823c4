// chem on real files: PubChem's 3D SDF of CID 1, the ChEBI-20 validation table, Debian rdkit-data's
// NCI SMILES. Skips (77) when none of them is present; a missing one is skipped with a warning.
#include "support/testing.hpp"

#include <molm/chem/conformer.hpp>
#include <molm/chem/readers.hpp>

#include <GraphMol/Conformer.h>

#include <nlohmann/json.hpp>

#include <cstdio>
#include <cstdlib>
#include <filesystem>

using namespace molm;
namespace fs = std::filesystem;

namespace {

fs::path pubchem_sdf() { return testing::shared_data_dir() / "conformers/Conformer3D_COMPOUND_CID_1.sdf"; }
fs::path chebi_tsv() { return testing::shared_data_dir() / "chebi20/validation.txt"; }
fs::path nci_smi() { return "/usr/share/RDKit/Data/NCI/first_5K.smi"; }

[[maybe_unused]] const bool any_data = [] {
  if (fs::exists(pubchem_sdf()) || fs::exists(chebi_tsv()) || fs::exists(nci_smi())) return true;
  std::fprintf(stderr, "SKIP: none of %s, %s, %s is present (set MOLM_DATA_DIR; apt-get install rdkit-data)\n",
               pubchem_sdf().c_str(), chebi_tsv().c_str(), nci_smi().c_str());
  std::exit(77);
}();

// Every record has a status; a record that is not ok says why; its provenance is valid JSON.
void check_record(const chem::Conformer& c) {
  const nlohmann::json j = c.provenance;
  INFO(j.dump());
  CHECK(c.ok() == (c.provenance.status == chem::Status::ok));
  if (c.ok()) {
    CHECK(c.size() == c.provenance.atoms);
    CHECK(c.provenance.method != chem::ConformerMethod::none);
    CHECK(c.provenance.method != chem::ConformerMethod::coords_2d);  // not asked for
  } else {
    CHECK_FALSE(c.provenance.error.empty());
    CHECK(c.positions.empty());
  }
  CHECK_NOTHROW(j.dump());
}

}  // namespace

TEST_CASE("PubChem's 3D conformer of CID 1 is kept as the user's 3D structure", "[chem][data]") {
  if (!fs::exists(pubchem_sdf())) {
    WARN("skipped: " << pubchem_sdf() << " is absent");
    return;
  }
  const auto mols = chem::read_molecules(pubchem_sdf());
  REQUIRE(mols.size() == 1);
  const chem::Molecule& m = mols[0];
  REQUIRE(m.ok());
  CHECK(m.has_3d);
  CHECK(m.name == "1");
  CHECK(m.properties.count("PUBCHEM_COMPOUND_CID"));
  CHECK(m.mol->getNumAtoms() == 31);  // the file's hydrogens are atoms with coordinates

  const chem::Conformer c = chem::embed(m);
  REQUIRE(c.ok());
  CHECK(c.provenance.method == chem::ConformerMethod::user_3d);
  CHECK(c.size() == m.mol->getNumHeavyAtoms());
  const RDKit::Conformer& file = m.mol->getConformer();
  for (std::size_t i = 0; i < c.size(); ++i) {
    const auto& x = file.getAtomPos(c.atom_indices[i]);
    CHECK(c.positions[i] == std::array<float, 3>{float(x.x), float(x.y), float(x.z)});
  }
  CHECK(c.provenance.canonical_smiles == chem::canonical_smiles(*m.mol));

  // The same molecule from its graph: ETKDGv3 + MMFF94, same heavy atoms in the same order.
  const chem::Conformer e = chem::embed(m, {.use_input_3d = false});
  REQUIRE(e.ok());
  CHECK(e.provenance.method == chem::ConformerMethod::etkdg_v3);
  CHECK(e.symbols == c.symbols);
}

TEST_CASE("ChEBI-20 validation table: every row read, a sample embedded", "[chem][data]") {
  if (!fs::exists(chebi_tsv())) {
    WARN("skipped: " << chebi_tsv() << " is absent");
    return;
  }
  std::size_t rows = 0, parsed = 0, embedded = 0;
  chem::for_each_molecule(
      chebi_tsv(),
      [&](chem::Molecule&& m) {
        ++rows;
        CHECK(m.record == rows);
        if (!m.ok()) {
          CHECK_FALSE(m.error.empty());
          return;
        }
        ++parsed;
        CHECK_FALSE(m.name.empty());  // the CID column
        if (rows % 300 == 1) {        // 12 molecules spread over the file
          const chem::Conformer c = chem::embed(m, {.seed = 42});
          check_record(c);
          embedded += c.ok();
        }
      },
      {.format = "tsv", .smiles_column = "SMILES", .name_column = "CID"});
  CHECK(rows == 3301);  // the README's row count
  INFO(parsed << " of " << rows << " SMILES parsed (the README warns about doubled backslashes)");
  CHECK(parsed > rows * 9 / 10);
  CHECK(embedded > 0);
}

TEST_CASE("NCI SMILES from rdkit-data: the first 150 embedded, each with a record", "[chem][data]") {
  if (!fs::exists(nci_smi())) {
    WARN("skipped: " << nci_smi() << " is absent (apt-get install rdkit-data)");
    return;
  }
  std::size_t n = 0, ok = 0;
  std::vector<chem::Molecule> batch;
  chem::for_each_molecule(nci_smi(), [&](chem::Molecule&& m) {
    if (batch.size() < 150) batch.push_back(std::move(m));
    ++n;
  });
  CHECK(n == 4999);
  for (const auto& m : batch) {
    const chem::Conformer c = chem::embed(m, {.seed = 42, .timeout_seconds = 30});
    check_record(c);
    ok += c.ok();
  }
  INFO(ok << " of " << batch.size() << " embedded");
  CHECK(ok > batch.size() * 9 / 10);
}
