// chem::Molecule: SMILES, mol blocks and RDKit molecules in; bad input comes back with a status and
// RDKit's reason, and RDKit's log lines are caught instead of printed.
#include "support/testing.hpp"

#include <molm/chem/molecule.hpp>

#include <GraphMol/Conformer.h>
#include <RDGeneral/RDLog.h>

#include <nlohmann/json.hpp>

#include <iostream>
#include <sstream>

using namespace molm;

namespace {

// Water with a real 3D geometry, as a V2000 mol block (hydrogens as atoms).
const char* kWaterBlock = R"(water
     RDKit          3D

  3  2  0  0  0  0  0  0  0  0999 V2000
    0.0000    0.0000    0.1173 O   0  0  0  0  0  0  0  0  0  0  0  0
    0.0000    0.7572   -0.4692 H   0  0  0  0  0  0  0  0  0  0  0  0
    0.0000   -0.7572   -0.4692 H   0  0  0  0  0  0  0  0  0  0  0  0
  1  2  1  0
  1  3  1  0
M  END
)";

}  // namespace

TEST_CASE("parse_smiles reads a valid SMILES and keeps hydrogens implicit", "[chem]") {
  const chem::Molecule m = chem::parse_smiles("  CC(=O)Oc1ccccc1C(=O)O \n", "aspirin");
  REQUIRE(m.ok());
  CHECK(m.status == chem::Status::ok);
  CHECK(m.error.empty());
  CHECK(m.input == "CC(=O)Oc1ccccc1C(=O)O");  // trimmed
  CHECK(m.name == "aspirin");
  CHECK(m.source == "smiles");
  CHECK(m.mol->getNumAtoms() == 13);
  CHECK(m.mol->getNumHeavyAtoms() == 13);
  CHECK_FALSE(m.has_3d);
  CHECK(chem::canonical_smiles(*m.mol) == chem::canonical_smiles(*chem::from_smiles("OC(=O)c1ccccc1OC(C)=O").mol));
}

TEST_CASE("bad SMILES get their own status and RDKit's reason, never an exception", "[chem]") {
  SECTION("empty and blank") {
    for (const char* text : {"", "   ", "\t\n"}) {
      const chem::Molecule m = chem::parse_smiles(text);
      CHECK_FALSE(m.ok());
      CHECK(m.mol == nullptr);
      CHECK(m.status == chem::Status::empty_input);
      CHECK(m.error == "empty SMILES");
    }
  }
  SECTION("syntax error and unclosed ring") {
    for (const char* text : {"C1CC", "CC(C", "C)C", "Xx"}) {
      const chem::Molecule m = chem::parse_smiles(text);
      INFO(text << " -> " << m.error);
      CHECK_FALSE(m.ok());
      CHECK(m.status == chem::Status::invalid_input);
      CHECK(m.error.find(std::string("invalid SMILES '") + text + "'") == 0);
      CHECK(m.error.size() > std::string("invalid SMILES ''").size() + std::string(text).size() + 2);
    }
  }
  SECTION("valence error (sanitization) is caught, not thrown") {
    const chem::Molecule m = chem::parse_smiles("C(C)(C)(C)(C)C");  // five-valent carbon
    CHECK(m.status == chem::Status::invalid_input);
    CHECK(m.error.find("alence") != std::string::npos);
  }
  SECTION("non-ASCII bytes are named, and escaped in the record") {
    const chem::Molecule m = chem::parse_smiles("CC\xff\xfeO");
    CHECK(m.status == chem::Status::invalid_input);
    CHECK(m.error.find("0xFF at offset 2") != std::string::npos);
    CHECK(m.input == "CC\\xFF\\xFEO");
    CHECK_NOTHROW(nlohmann::json(m.error).dump());
  }
  SECTION("from_smiles throws molm::error with the same reason") {
    CHECK_THROWS_AS(chem::from_smiles("C1CC"), molm::error);
    CHECK_THROWS_WITH(chem::from_smiles(""), Catch::Contains("empty SMILES"));
  }
}

TEST_CASE("RDKit's messages about a bad SMILES are captured, not printed", "[chem]") {
  RDLog::InitLogs();  // make sure RDKit's loggers exist (they print to stderr)
  std::ostringstream err;
  std::streambuf* saved = std::cerr.rdbuf(err.rdbuf());
  const chem::Molecule m = chem::parse_smiles("C1CC");
  std::cerr.rdbuf(saved);
  INFO(m.error);
  CHECK(err.str().empty());
  CHECK(m.error.find("SMILES Parse Error") != std::string::npos);
  CHECK(m.error.find("[") != 0);  // no time stamp

  SECTION("outside a capture RDKit prints as before") {
    std::ostringstream again;
    saved = std::cerr.rdbuf(again.rdbuf());
    BOOST_LOG(rdErrorLog) << "plain message" << std::endl;
    std::cerr.rdbuf(saved);
    CHECK(again.str().find("plain message") != std::string::npos);
  }
  SECTION("captures nest: the innermost one gets the text") {
    chem::CaptureRdkitLogs outer;
    {
      chem::CaptureRdkitLogs inner;
      BOOST_LOG(rdWarningLog) << "inner line" << std::endl;
      CHECK(inner.text() == "inner line");
    }
    BOOST_LOG(rdWarningLog) << "outer line" << std::endl;
    CHECK(outer.lines() == std::vector<std::string>{"outer line"});
  }
}

TEST_CASE("parse_molblock keeps 3D coordinates and explicit hydrogens", "[chem]") {
  const chem::Molecule m = chem::parse_molblock(kWaterBlock, "water.mol");
  REQUIRE(m.ok());
  CHECK(m.has_3d);
  CHECK(m.name == "water");
  CHECK(m.mol->getNumAtoms() == 3);  // hydrogens kept as atoms
  CHECK(m.mol->getConformer().getAtomPos(1).y == Approx(0.7572));

  SECTION("all-zero coordinates are not taken for a structure") {
    std::string zeros = kWaterBlock;
    for (const char* from : {"0.1173", "0.7572", "0.4692"})
      for (std::size_t at; (at = zeros.find(from)) != std::string::npos;) zeros.replace(at, 6, "0.0000");
    const chem::Molecule z = chem::parse_molblock(zeros, "zeros.mol");
    REQUIRE(z.ok());
    CHECK_FALSE(z.has_3d);
    REQUIRE_FALSE(z.warnings.empty());
    CHECK(z.warnings[0].find("zero") != std::string::npos);
  }
  SECTION("a truncated block is an error naming the record") {
    const std::string cut = std::string(kWaterBlock).substr(0, std::string(kWaterBlock).find("  1  2  1"));
    const chem::Molecule t = chem::parse_molblock(cut, "cut.mol");
    CHECK_FALSE(t.ok());
    CHECK(t.status == chem::Status::invalid_input);
    CHECK(t.error.find("cut.mol: ") == 0);
  }
  SECTION("empty") { CHECK(chem::parse_molblock("\n\n", "e.mol").status == chem::Status::empty_input); }
}

TEST_CASE("from_rdkit copies an embedding program's molecule and keeps its conformer", "[chem]") {
  std::unique_ptr<RDKit::RWMol> water(RDKit::MolBlockToMol(kWaterBlock, true, false));
  REQUIRE(water);
  const chem::Molecule m = chem::from_rdkit(*water, "mine");
  REQUIRE(m.ok());
  CHECK(m.source == "romol");
  CHECK(m.name == "mine");
  CHECK(m.has_3d);
  CHECK(m.mol.get() != water.get());  // a copy: the caller's molecule is untouched

  std::unique_ptr<RDKit::RWMol> flat(RDKit::SmilesToMol("CCO"));
  const chem::Molecule g = chem::from_rdkit(*flat);
  REQUIRE(g.ok());
  CHECK_FALSE(g.has_3d);

  RDKit::ROMol empty;
  CHECK(chem::from_rdkit(empty).status == chem::Status::empty_input);
}

TEST_CASE("escape_invalid_utf8 keeps valid UTF-8 and writes bad bytes as \\xNN", "[chem]") {
  using chem::detail::escape_invalid_utf8;
  CHECK(escape_invalid_utf8("caf\xc3\xa9 \xe2\x82\xac") == "caf\xc3\xa9 \xe2\x82\xac");
  CHECK(escape_invalid_utf8("a\xe9z") == "a\\xE9z");                // Latin-1 é
  CHECK(escape_invalid_utf8("\xc0\xaf") == "\\xC0\\xAF");           // overlong '/'
  CHECK(escape_invalid_utf8("\xed\xa0\x80") == "\\xED\\xA0\\x80");  // UTF-16 surrogate
  CHECK(escape_invalid_utf8("\xe2\x82") == "\\xE2\\x82");           // cut off
  CHECK(escape_invalid_utf8(std::string("a\0b", 3)) == "a\\x00b");
  CHECK(chem::detail::first_invalid_utf8("ok\xff") == 2);
  CHECK(chem::detail::first_invalid_utf8("ok") == std::string_view::npos);
}
