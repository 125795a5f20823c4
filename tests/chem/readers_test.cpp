// chem readers: every record of a SMILES list, SD file or CSV/TSV table becomes a Molecule; broken
// records carry a status and a message with the line, and the records after them are still read.
#include "support/testing.hpp"
#include "fixtures.hpp"

#include <molm/chem/readers.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>

using namespace molm;

namespace {

std::vector<chem::Molecule> smiles_lines(const std::string& text) {
  std::istringstream in(text);
  std::vector<chem::Molecule> out;
  chem::for_each_smiles_line(in, "list.smi", [&](chem::Molecule&& m) { out.push_back(std::move(m)); });
  return out;
}

std::vector<chem::Molecule> sdf(const std::string& text) {
  std::istringstream in(text);
  std::vector<chem::Molecule> out;
  chem::for_each_sdf_record(in, "lib.sdf", [&](chem::Molecule&& m) { out.push_back(std::move(m)); });
  return out;
}

std::vector<chem::Molecule> table(const std::string& text, char delimiter, const chem::ReadOptions& options = {}) {
  std::istringstream in(text);
  std::vector<chem::Molecule> out;
  chem::for_each_table_row(in, "t.csv", delimiter, options, [&](chem::Molecule&& m) { out.push_back(std::move(m)); });
  return out;
}

// Methane and ethanol mol blocks (2D and 3D) to build SD files from.
const std::string kMethane = R"(methane
     RDKit          2D

  1  0  0  0  0  0  0  0  0  0999 V2000
    0.0000    0.0000    0.0000 C   0  0  0  0  0  0  0  0  0  0  0  0
M  END
)";
using testing::kEthanol3D;

}  // namespace

TEST_CASE("SMILES lists: names, comments, header, blank lines, bad lines", "[chem][readers]") {
  const auto mols = smiles_lines(
      "SMILES Name\n"
      "CCO ethanol\n"
      "\n"
      "# a comment\n"
      "C1CC broken ring\n"
      "c1ccccc1\tbenzene ring\r\n"
      "CC\xff" "O latin\n"
      "[Na+].[Cl-] salt");
  REQUIRE(mols.size() == 5);
  CHECK(mols[0].ok());
  CHECK(mols[0].name == "ethanol");
  CHECK(mols[0].record == 1);
  CHECK(mols[0].file == "list.smi");
  CHECK(mols[0].source == "smi");

  CHECK(mols[1].status == chem::Status::invalid_input);
  CHECK(mols[1].error.find("list.smi line 5: invalid SMILES 'C1CC'") == 0);
  CHECK(mols[1].name == "broken ring");

  CHECK(mols[2].ok());
  CHECK(mols[2].name == "benzene ring");  // CR of a CRLF line dropped

  CHECK(mols[3].status == chem::Status::read_error);
  CHECK(mols[3].error == "list.smi line 7: not valid UTF-8: byte 0xFF at offset 2");

  CHECK(mols[4].ok());  // a salt is a molecule with two fragments; the last line needs no newline
  CHECK(mols[4].record == 5);
}

TEST_CASE("SD files: every record, 3D kept, data items, truncated records reported", "[chem][readers]") {
  const std::string truncated = kEthanol3D.substr(0, kEthanol3D.find("  1  2  1"));  // no bonds, no M  END
  const auto mols = sdf(kMethane + "> <PUBCHEM_COMPOUND_CID>\n297\n\n> <note>\ntwo\nlines\n\n$$$$\n" +  //
                        truncated + "$$$$\n" +                                                       //
                        kEthanol3D + "$$$$\n" +                                                      //
                        "garbage that is not a mol block\n$$$$\n" +                                  //
                        kEthanol3D.substr(0, 60));  // cut off at end of file
  REQUIRE(mols.size() == 5);

  CHECK(mols[0].ok());
  CHECK(mols[0].name == "methane");
  CHECK_FALSE(mols[0].has_3d);  // 2D input: a conformer will be generated
  CHECK(mols[0].properties.at("PUBCHEM_COMPOUND_CID") == "297");
  CHECK(mols[0].properties.at("note") == "two\nlines");
  CHECK(mols[0].record == 1);

  CHECK(mols[1].status == chem::Status::read_error);
  CHECK(mols[1].error.find("lib.sdf record 2 (line 15): truncated record") == 0);

  REQUIRE(mols[2].ok());  // the record after a broken one is read
  CHECK(mols[2].has_3d);
  CHECK(mols[2].name == "ethanol");
  CHECK(mols[2].mol->getConformer().getAtomPos(2).x == Approx(1.32));
  CHECK(mols[2].input == "lib.sdf record 3 (line 23)");

  CHECK_FALSE(mols[3].ok());
  CHECK(mols[3].status == chem::Status::read_error);

  CHECK(mols[4].status == chem::Status::read_error);
  CHECK(mols[4].record == 5);
}

TEST_CASE("a .mol file is one record without $$$$", "[chem][readers]") {
  const auto mols = sdf(kEthanol3D);
  REQUIRE(mols.size() == 1);
  CHECK(mols[0].ok());
  CHECK(sdf("\n\n").empty());
}

TEST_CASE("CSV and TSV tables: SMILES column by name, quoting, bad rows", "[chem][readers]") {
  SECTION("csv") {
    const auto mols = table(
        "\xEF\xBB\xBFid,Smiles,note\n"
        "1,CCO,plain\n"
        "2,\"C(=O)O\",\"quoted, with comma\"\n"
        "\n"
        "3,,empty cell\n"
        "4\n"
        "5,C1CC,\"multi\nline\"\n"
        "6,c1ccccc1,last\n",
        ',', {.smiles_column = "SMILES", .name_column = "id"});
    REQUIRE(mols.size() == 6);
    CHECK(mols[0].ok());
    CHECK(mols[0].name == "1");
    CHECK(mols[0].source == "csv");
    CHECK(mols[1].ok());
    CHECK(mols[1].input == "C(=O)O");
    CHECK(mols[2].status == chem::Status::empty_input);
    CHECK(mols[2].error == "t.csv line 5: empty SMILES");
    CHECK(mols[3].status == chem::Status::read_error);
    CHECK(mols[3].error == "t.csv line 6: row has 1 field(s), the header has 3");
    CHECK(mols[4].status == chem::Status::invalid_input);
    CHECK(mols[4].name == "5");
    CHECK(mols[5].ok());  // a quoted newline did not shift the rows
    CHECK(mols[5].record == 6);
    CHECK(mols[5].error.empty());
  }
  SECTION("tsv") {
    const auto mols = table("CID\tSMILES\tdescription\n702\tCCO\tThe molecule is ethanol.\n"
                            "703\tCC\t\"a stray quote\n704\tCCC\tno quoting in TSV\n",
                            '\t', {.name_column = "cid"});
    REQUIRE(mols.size() == 3);
    CHECK(mols[0].ok());
    CHECK(mols[0].name == "702");
    CHECK(mols[0].source == "tsv");
    CHECK(mols[2].name == "704");
  }
  SECTION("a table without the named column is an error for the whole file") {
    CHECK_THROWS_WITH(table("id,structure\n1,CCO\n", ','),
                      Catch::Contains("t.csv: no column named 'smiles' (the header has: id, structure)"));
    CHECK_THROWS_WITH(table("", ','), Catch::Contains("empty file"));
  }
}

TEST_CASE("files: format from the extension, clear errors for the whole file", "[chem][readers]") {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / "molm_chem_readers_test";
  fs::create_directories(dir);
  std::ofstream(dir / "a.smi") << "CCO one\nC1CC two\nc1ccccc1 three\n";
  std::ofstream(dir / "b.sdf") << kEthanol3D << "$$$$\n" << kMethane << "$$$$\n";
  std::ofstream(dir / "c.txt") << "CCO\n";

  const auto smi = chem::read_molecules(dir / "a.smi");
  REQUIRE(smi.size() == 3);
  CHECK(smi[0].ok());
  CHECK_FALSE(smi[1].ok());
  CHECK(smi[2].ok());
  CHECK(smi[2].file == (dir / "a.smi").string());

  const auto sd = chem::read_molecules(dir / "b.sdf");
  REQUIRE(sd.size() == 2);
  CHECK(sd[0].has_3d);

  CHECK_THROWS_WITH(chem::read_molecules(dir / "c.txt"), Catch::Contains("set ReadOptions::format"));
  CHECK(chem::read_molecules(dir / "c.txt", {.format = "smi"}).size() == 1);
  CHECK_THROWS_WITH(chem::read_molecules(dir / "missing.sdf"), Catch::Contains("cannot open"));
  fs::remove_all(dir);
}
