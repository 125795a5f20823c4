// molm::chem's RDKit targets compile and link: RDKit parses a SMILES through them. (On Debian this
// exercises cmake/FindRDKit.cmake, since librdkit-dev ships no CMake config.)
#include <GraphMol/ROMol.h>
#include <GraphMol/SmilesParse/SmilesParse.h>

#include <catch2/catch.hpp>

#include <memory>

TEST_CASE("RDKit links through molm::chem and parses a SMILES", "[chem]") {
  std::unique_ptr<RDKit::ROMol> ethanol(RDKit::SmilesToMol("CCO"));
  REQUIRE(ethanol != nullptr);
  CHECK(ethanol->getNumHeavyAtoms() == 3);
  CHECK(ethanol->getNumAtoms() == 3);  // SmilesToMol keeps hydrogens implicit

  // An unparsable SMILES is reported (nullptr or an exception), never a half-built molecule.
  std::unique_ptr<RDKit::ROMol> broken;
  try {
    broken.reset(RDKit::SmilesToMol("C1CC"));  // unclosed ring
  } catch (const std::exception&) {
  }
  CHECK(broken == nullptr);
}
