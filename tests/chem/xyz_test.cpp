// chem::parse_xyz: coordinates from XYZ, bonds from a SMILES, atoms matched by connectivity; without
// a SMILES, or with one that does not fit the geometry, a clear error.
#include "support/testing.hpp"

#include <molm/chem/conformer.hpp>
#include <molm/chem/readers.hpp>
#include <molm/chem/xyz.hpp>

#include <GraphMol/Conformer.h>

#include <fmt/format.h>

#include <sstream>

using namespace molm;

namespace {

// An XYZ frame of `c`'s molecule (hydrogens included), atoms written in the order `order`.
std::string xyz_of(const chem::Conformer& c, const std::vector<unsigned>& order, const std::string& comment) {
  const RDKit::ROMol& mol = *c.mol;
  std::string out = fmt::format("{}\n{}\n", order.size(), comment);
  for (unsigned i : order) {
    const auto& p = mol.getConformer().getAtomPos(i);
    out += fmt::format("{} {:.6f} {:.6f} {:.6f}\n", mol.getAtomWithIdx(i)->getSymbol(), p.x, p.y, p.z);
  }
  return out;
}

}  // namespace

TEST_CASE("XYZ with a SMILES: atoms matched whatever their order in the file", "[chem][xyz]") {
  const chem::Conformer ref = chem::embed(chem::from_smiles("NCC(=O)O"), {.seed = 1});  // glycine
  REQUIRE(ref.ok());
  const unsigned n = ref.mol->getNumAtoms();
  std::vector<unsigned> reversed;
  for (unsigned i = n; i-- > 0;) reversed.push_back(i);  // hydrogens first, heavy atoms last

  SECTION("smiles= on the comment line") {
    const chem::Molecule m = chem::parse_xyz(xyz_of(ref, reversed, "glycine smiles=NCC(=O)O"));
    REQUIRE(m.ok());
    CHECK(m.has_3d);
    CHECK(m.source == "xyz");
    CHECK(m.mol->getNumAtoms() == n);
    const chem::Conformer c = chem::embed(m);
    REQUIRE(c.ok());
    CHECK(c.provenance.method == chem::ConformerMethod::user_3d);
    CHECK(c.symbols == ref.symbols);
    REQUIRE(c.size() == ref.size());
    for (std::size_t i = 0; i < c.size(); ++i)  // every heavy atom of glycine is distinct: exact mapping
      for (int k = 0; k < 3; ++k) CHECK(c.positions[i][k] == Approx(ref.positions[i][k]).margin(1e-5));
    CHECK(c.provenance.canonical_smiles == ref.provenance.canonical_smiles);
  }
  SECTION("SMILES passed by the caller; heavy atoms only") {
    std::vector<unsigned> heavy;
    for (unsigned i = 0; i < n; ++i)
      if (ref.mol->getAtomWithIdx(i)->getAtomicNum() != 1) heavy.insert(heavy.begin(), i);
    const chem::Molecule m = chem::parse_xyz(xyz_of(ref, heavy, "no smiles here"), "NCC(=O)O", "gly.xyz");
    REQUIRE(m.ok());
    CHECK(m.mol->getNumAtoms() == 5);
    CHECK(m.name == "no smiles here");
  }
  SECTION("without a SMILES: a clear error") {
    const chem::Molecule m = chem::parse_xyz(xyz_of(ref, reversed, "glycine"), "", "gly.xyz");
    CHECK(m.status == chem::Status::invalid_input);
    CHECK(m.error.find("gly.xyz: XYZ has no bonds and no SMILES was given") == 0);
  }
  SECTION("a SMILES of another molecule with the same formula does not fit") {
    const chem::Molecule m = chem::parse_xyz(xyz_of(ref, reversed, "x"), "CNC(=O)O", "gly.xyz");  // isomer
    CHECK(m.status == chem::Status::invalid_input);
    CHECK(m.error.find("does not fit") != std::string::npos);
    const chem::Molecule w = chem::parse_xyz(xyz_of(ref, reversed, "x"), "CCO", "gly.xyz");
    CHECK(w.status == chem::Status::invalid_input);
    CHECK(w.error.find("atoms in the XYZ") != std::string::npos);
  }
  SECTION("broken frames") {
    CHECK(chem::parse_xyz("").status == chem::Status::empty_input);
    CHECK(chem::parse_xyz("three\nc\nC 0 0 0\n").status == chem::Status::read_error);
    const chem::Molecule cut = chem::parse_xyz("3\nsmiles=CCO\nC 0 0 0\nC 1.5 0 0\n", "", "cut.xyz");
    CHECK(cut.status == chem::Status::read_error);
    CHECK(cut.error == "cut.xyz: truncated: 3 atoms announced, 2 atom line(s) present");
    const chem::Molecule bad = chem::parse_xyz("2\nsmiles=CC\nC 0 0 0\nQq 1.5 0 0\n", "", "bad.xyz");
    CHECK(bad.status == chem::Status::read_error);
    CHECK(bad.error == "bad.xyz: line 4 is not 'Element x y z': 'Qq 1.5 0 0'");
  }
  SECTION("multi-frame files: one record per frame, the rest read after a bad frame") {
    std::istringstream in(xyz_of(ref, reversed, "a smiles=NCC(=O)O") + "2\nsmiles=CC\nC 0 0 0\nC 0.2 x 0\n" +
                          xyz_of(ref, reversed, "c"));
    std::vector<chem::Molecule> frames;
    chem::for_each_xyz_record(in, "f.xyz", "", [&](chem::Molecule&& m) { frames.push_back(std::move(m)); });
    REQUIRE(frames.size() == 3);
    CHECK(frames[0].ok());
    CHECK(frames[1].status == chem::Status::read_error);
    CHECK(frames[2].status == chem::Status::invalid_input);  // no smiles= on its comment line
    CHECK(frames[2].record == 3);
    CHECK(frames[2].error.find(fmt::format("f.xyz record 3 (line {})", (n + 2) + 4 + 1)) == 0);
  }
}
