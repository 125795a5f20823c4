// chem readers for MOL2, PDB, JSON Lines and gzip-compressed files: every record becomes a Molecule,
// broken records carry a status and a message with the file and record/line, the records after them
// are still read, and a damaged gzip stream is an error for the whole file.
#include "support/testing.hpp"
#include "fixtures.hpp"

#include <molm/chem/readers.hpp>

#include <GraphMol/MolOps.h>
#include <GraphMol/SmilesParse/SmilesWrite.h>
#include <zlib.h>

#include <filesystem>
#include <fstream>
#include <sstream>

using namespace molm;
namespace fs = std::filesystem;

namespace {

void write_text(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
}

void write_gzip(const fs::path& path, const std::string& text) {
  gzFile f = gzopen(path.c_str(), "wb");
  REQUIRE(f != nullptr);
  REQUIRE(gzwrite(f, text.data(), static_cast<unsigned>(text.size())) == static_cast<int>(text.size()));
  REQUIRE(gzclose(f) == Z_OK);
}

std::string heavy_smiles(const chem::Molecule& m) {
  REQUIRE(m.mol);
  return chem::canonical_smiles(*m.mol);
}

// Hand-written Tripos records: ethanol and acetic acid with their hydrogens, a record whose ATOM block
// is cut short (4 atoms announced, 2 given), and one with an atom type RDKit does not know.
const std::string kEthanolMol2 = R"(@<TRIPOS>MOLECULE
ethanol
 9 8 1 0 0
SMALL
GASTEIGER

@<TRIPOS>ATOM
      1 C1         -0.9300    0.0500    0.0400 C.3     1  UNL1       -0.0400
      2 C2          0.5200   -0.3900   -0.1000 C.3     1  UNL1        0.0500
      3 O1          1.3200    0.7600    0.0200 O.3     1  UNL1       -0.3900
      4 H1         -1.2000    0.8500   -0.6500 H       1  UNL1        0.0300
      5 H2         -1.1000    0.4000    1.0600 H       1  UNL1        0.0300
      6 H3         -1.5700   -0.8100   -0.1600 H       1  UNL1        0.0300
      7 H4          0.7700   -0.7900   -1.0900 H       1  UNL1        0.0500
      8 H5          0.7100   -1.1700    0.6400 H       1  UNL1        0.0500
      9 H6          2.2500    0.4900   -0.0600 H       1  UNL1        0.2100
@<TRIPOS>BOND
     1     1     2    1
     2     2     3    1
     3     1     4    1
     4     1     5    1
     5     1     6    1
     6     2     7    1
     7     2     8    1
     8     3     9    1
)";
const std::string kTruncatedMol2 = R"(@<TRIPOS>MOLECULE
cut short
 4 3 1 0 0
SMALL
NO_CHARGES

@<TRIPOS>ATOM
      1 C1          0.0000    0.0000    0.0000 C.3     1  UNL1        0.0000
      2 C2          1.5000    0.0000    0.0000 C.2     1  UNL1        0.0000
@<TRIPOS>BOND
     1     1     2    1
)";
const std::string kUnknownTypeMol2 = R"(@<TRIPOS>MOLECULE
unknown type
 2 1 1 0 0
SMALL
NO_CHARGES

@<TRIPOS>ATOM
      1 C1          0.0000    0.0000    0.0000 C.3     1  UNL1        0.0000
      2 Q1          1.5000    0.0000    0.0000 Qq.9    1  UNL1        0.0000
@<TRIPOS>BOND
     1     1     2    1
)";
const std::string kAceticAcidMol2 = R"(@<TRIPOS>MOLECULE
acetic acid
 8 7 1 0 0
SMALL
NO_CHARGES

@<TRIPOS>ATOM
      1 C1          -0.9828   -0.0471   -0.0499 C.3     1  UNL1        0.0000
      2 C2           0.4477    0.2745    0.1654 C.2     1  UNL1        0.0000
      3 O3           0.8379    1.4569    0.2895 O.2     1  UNL1        0.0000
      4 O4           1.4390   -0.7095    0.2425 O.3     1  UNL1        0.0000
      5 H5          -1.5572   -0.1343    0.8904 H       1  UNL1        0.0000
      6 H6          -1.4036    0.7602   -0.7157 H       1  UNL1        0.0000
      7 H7          -1.1245   -1.0115   -0.6002 H       1  UNL1        0.0000
      8 H8           2.3434   -0.5892   -0.2220 H       1  UNL1        0.0000
@<TRIPOS>BOND
     1     1     2    1
     2     2     3    2
     3     2     4    1
     4     1     5    1
     5     1     6    1
     6     1     7    1
     7     4     8    1
@<TRIPOS>SUBSTRUCTURE
     1 UNL1        1 GROUP             0 ****  ****    0
)";

// Acetaldehyde in three MODELs, laid out as PDB files are: COMPND before the first MODEL, CONECT after
// the last ENDMDL (the doubled "2 3" CONECT entry is the C=O double bond). Model 2 has an ATOM line
// cut off before its coordinates.
const std::string kAcetaldehydePdb = R"(COMPND    acetaldehyde
MODEL        1
HETATM    1  C1  UNL     1      -0.640   0.020  -0.003  1.00  0.00           C  
HETATM    2  C2  UNL     1       0.845  -0.015   0.008  1.00  0.00           C  
HETATM    3  O1  UNL     1       1.481  -1.041  -0.047  1.00  0.00           O  
HETATM    4  H1  UNL     1      -0.980   1.070  -0.088  1.00  0.00           H  
HETATM    5  H2  UNL     1      -1.084  -0.383   0.939  1.00  0.00           H  
HETATM    6  H3  UNL     1      -1.035  -0.560  -0.876  1.00  0.00           H  
HETATM    7  H4  UNL     1       1.413   0.908   0.067  1.00  0.00           H  
ENDMDL
MODEL        2
HETATM    1  C1  UNL     1      -0.642   0.006   0.048  1.00  0.00           C  
HETATM    2  C2  UNL     1       0.845  -0.120  -0.07
ENDMDL
MODEL        3
HETATM    1  C1  UNL     1      -0.642   0.006   0.048  1.00  0.00           C  
HETATM    2  C2  UNL     1       0.845  -0.120  -0.074  1.00  0.00           C  
HETATM    3  O1  UNL     1       1.472   0.932  -0.122  1.00  0.00           O  
HETATM    4  H1  UNL     1      -0.885   0.513   1.027  1.00  0.00           H  
HETATM    5  H2  UNL     1      -1.158  -0.962  -0.010  1.00  0.00           H  
HETATM    6  H3  UNL     1      -0.991   0.702  -0.750  1.00  0.00           H  
HETATM    7  H4  UNL     1       1.359  -1.070  -0.119  1.00  0.00           H  
ENDMDL
CONECT    1    2    4    5    6
CONECT    2    3    3    7
END
)";

const std::string kEthanolSdf = testing::kEthanol3D + R"(> <CID>
702

$$$$
)";

/// SMILES lines enough for several 64 KiB buffers of the gzip reader, each line a valid molecule.
std::string many_smiles_lines(std::size_t n) {
  std::string text;
  for (std::size_t i = 0; i < n; ++i) text += fmt::format("C{} mol{}\n", std::string(1 + i % 7, 'C'), i);
  return text;
}

}  // namespace

TEST_CASE("format from the extension: the new formats and the extension before .gz", "[chem][readers]") {
  CHECK(chem::format_from_extension("a.mol2") == "mol2");
  CHECK(chem::format_from_extension("1abc.PDB") == "pdb");
  CHECK(chem::format_from_extension("pdb1abc.ent") == "pdb");
  CHECK(chem::format_from_extension("x.jsonl") == "jsonl");
  CHECK(chem::format_from_extension("x.ndjson") == "jsonl");
  CHECK(chem::format_from_extension("lib.sdf.gz") == "sdf");
  CHECK(chem::format_from_extension("list.smi.GZ") == "smi");
  CHECK(chem::format_from_extension("t.csv.gz") == "csv");
  CHECK(chem::format_from_extension("x.gz").empty());
  CHECK(chem::format_from_extension("x.txt.gz").empty());
}

TEST_CASE("MOL2: every record, 3D and hydrogens kept, bad records reported, the rest read", "[chem][readers]") {
  std::istringstream in("# a comment before the first record\n" + kEthanolMol2 + kTruncatedMol2 + kUnknownTypeMol2 +
                        kAceticAcidMol2);
  std::vector<chem::Molecule> mols;
  chem::for_each_mol2_record(in, "lib.mol2", [&](chem::Molecule&& m) { mols.push_back(std::move(m)); });
  REQUIRE(mols.size() == 4);

  REQUIRE(mols[0].ok());
  CHECK(mols[0].name == "ethanol");
  CHECK(mols[0].source == "mol2");
  CHECK(mols[0].file == "lib.mol2");
  CHECK(mols[0].record == 1);
  CHECK(mols[0].input == "lib.mol2 record 1 (line 2)");
  CHECK(mols[0].has_3d);
  CHECK(mols[0].mol->getNumAtoms() == 9);  // hydrogens stay atoms, as in the SDF reader
  const auto first = mols[0].mol->getConformer().getAtomPos(0);
  CHECK(first.x == Approx(-0.93));
  CHECK(first.y == Approx(0.05));
  CHECK(first.z == Approx(0.04));
  CHECK(heavy_smiles(mols[0]) == "CCO");

  CHECK(mols[1].status == chem::Status::invalid_input);
  CHECK(mols[1].error.rfind("lib.mol2 record 2 (line 27): ", 0) == 0);
  CHECK(mols[1].name == "cut short");  // a failed record still says which molecule it was
  CHECK_FALSE(mols[1].mol);

  CHECK(mols[2].status == chem::Status::invalid_input);
  CHECK(mols[2].error.rfind("lib.mol2 record 3 (line 38): ", 0) == 0);
  CHECK(mols[2].error.find("Qq") != std::string::npos);  // RDKit's reason: the unknown element

  REQUIRE(mols[3].ok());  // records after bad ones are read
  CHECK(mols[3].name == "acetic acid");
  CHECK(mols[3].record == 4);
  CHECK(mols[3].mol->getNumAtoms() == 8);
  CHECK(heavy_smiles(mols[3]) == "CC(=O)O");
  CHECK(mols[3].mol->getConformer().getAtomPos(0).x == Approx(-0.9828));
}

TEST_CASE("PDB: one molecule per MODEL, CONECT after the models applies to each", "[chem][readers]") {
  std::istringstream in(kAcetaldehydePdb);
  std::vector<chem::Molecule> mols;
  chem::for_each_pdb_model(in, "ens.pdb", "ens", [&](chem::Molecule&& m) { mols.push_back(std::move(m)); });
  REQUIRE(mols.size() == 3);

  REQUIRE(mols[0].ok());
  CHECK(mols[0].source == "pdb");
  CHECK(mols[0].name == "acetaldehyde");  // from COMPND, not the file stem
  CHECK(mols[0].has_3d);
  CHECK(mols[0].record == 1);
  CHECK(mols[0].input == "ens.pdb record 1 (line 2)");
  CHECK(mols[0].properties.at("model") == "1");
  CHECK(mols[0].mol->getNumAtoms() == 7);
  CHECK(heavy_smiles(mols[0]) == "CC=O");  // the doubled CONECT entry is read as a double bond
  CHECK(mols[0].mol->getConformer().getAtomPos(0).x == Approx(-0.640));
  CHECK(mols[0].mol->getConformer().getAtomPos(0).y == Approx(0.020));
  CHECK(mols[0].mol->getConformer().getAtomPos(0).z == Approx(-0.003));

  CHECK(mols[1].status == chem::Status::read_error);
  CHECK(mols[1].error == "ens.pdb record 2 (line 11): line 13 is an ATOM/HETATM record cut short: no coordinates "
                         "(fewer than 54 columns)");
  CHECK(mols[1].properties.at("model") == "2");

  REQUIRE(mols[2].ok());
  CHECK(mols[2].record == 3);
  CHECK(heavy_smiles(mols[2]) == "CC=O");
  CHECK(mols[2].mol->getConformer().getAtomPos(2).x == Approx(1.472));  // this model's coordinates

  SECTION("no MODEL records: the whole file, named by the stem; no CONECT: proximity bonds") {
    std::string single;
    std::istringstream all(kAcetaldehydePdb);
    for (std::string line; std::getline(all, line);)
      if (line.rfind("HETATM", 0) == 0 && line.size() > 54 && single.size() < 7 * 81) single += line + '\n';
    std::istringstream one(single + "END\n");
    std::vector<chem::Molecule> got;
    chem::for_each_pdb_model(one, "x.pdb", "x", [&](chem::Molecule&& m) { got.push_back(std::move(m)); });
    REQUIRE(got.size() == 1);
    REQUIRE(got[0].ok());
    CHECK(got[0].name == "x");
    CHECK(got[0].properties.count("model") == 0);
    CHECK(got[0].mol->getNumAtoms() == 7);
    // Bond orders are gone without CONECT: the C=O comes back single (why SDF is preferred for ligands).
    CHECK(heavy_smiles(got[0]) != "CC=O");
  }
  SECTION("garbage and empty input") {
    std::istringstream junk("this is not a PDB file\n");
    std::vector<chem::Molecule> got;
    chem::for_each_pdb_model(junk, "j.pdb", "j", [&](chem::Molecule&& m) { got.push_back(std::move(m)); });
    REQUIRE(got.size() == 1);
    CHECK_FALSE(got[0].ok());
    CHECK(got[0].error.rfind("j.pdb record 1 (line 1): ", 0) == 0);
    std::istringstream blank("\n\n");
    got.clear();
    chem::for_each_pdb_model(blank, "b.pdb", "b", [&](chem::Molecule&& m) { got.push_back(std::move(m)); });
    CHECK(got.empty());
  }
}

TEST_CASE("JSON Lines: SMILES field, name, properties, per-line errors", "[chem][readers]") {
  const std::string deep = "{\"smiles\": \"C\", \"x\": " + std::string(100, '[') + std::string(100, ']') + "}";
  std::istringstream in(
      "{\"smiles\": \"CCO\", \"name\": \"ethanol\", \"mw\": 46.07, \"tags\": [\"a\", 1], \"ok\": true, "
      "\"note\": null}\n"
      "{\"SMILES\": \"c1ccccc1\", \"id\": 7}\n"
      "\n"
      "{\"smiles\": \"CC\",\n"
      "[1, 2]\n"
      "{\"name\": \"no smiles\", \"Smile\": \"CC\"}\n"
      "{\"smiles\": 42}\n"
      "   \r\n"
      "{\"smiles\": \"C1CC\", \"name\": \"open ring\"}\n" +
      deep + "\n" +
      "{\"smiles\": \"O\", \"note\": \"water\"}");
  std::vector<chem::Molecule> mols;
  chem::for_each_jsonl_line(in, "d.jsonl", {}, [&](chem::Molecule&& m) { mols.push_back(std::move(m)); });
  REQUIRE(mols.size() == 9);

  REQUIRE(mols[0].ok());
  CHECK(mols[0].source == "jsonl");
  CHECK(mols[0].name == "ethanol");
  CHECK(mols[0].record == 1);
  CHECK(mols[0].input == "CCO");
  CHECK(mols[0].properties.size() == 4);  // the SMILES and name fields are not repeated there
  CHECK(mols[0].properties.at("mw") == "46.07");
  CHECK(mols[0].properties.at("tags") == "[\"a\",1]");
  CHECK(mols[0].properties.at("ok") == "true");
  CHECK(mols[0].properties.at("note") == "null");

  REQUIRE(mols[1].ok());  // field matched ignoring case; "id" names it when there is no "name"
  CHECK(mols[1].name == "7");
  CHECK(mols[1].properties.empty());

  CHECK(mols[2].status == chem::Status::read_error);
  CHECK(mols[2].error.rfind("d.jsonl line 4: not valid JSON: ", 0) == 0);
  CHECK(mols[3].error == "d.jsonl line 5: a JSON array where an object was expected");
  CHECK(mols[4].error == "d.jsonl line 6: no field 'smiles' (the object has: Smile, name)");
  CHECK(mols[5].error == "d.jsonl line 7: field 'smiles' is a number, not a string");
  CHECK(mols[5].record == 6);

  CHECK(mols[6].status == chem::Status::invalid_input);  // RDKit's reason, after the line
  CHECK(mols[6].error.rfind("d.jsonl line 9: invalid SMILES 'C1CC'", 0) == 0);
  CHECK(mols[6].name == "open ring");

  CHECK(mols[7].status == chem::Status::read_error);
  CHECK(mols[7].error.find("nested deeper than 64 levels") != std::string::npos);

  REQUIRE(mols[8].ok());  // the last line needs no newline
  CHECK(mols[8].record == 9);
  CHECK(mols[8].properties.at("note") == "water");
  CHECK(mols[8].name.empty());

  SECTION("named SMILES and name fields") {
    std::istringstream two("{\"structure\": \"CC\", \"label\": \"ethane\", \"name\": \"other\"}\n"
                           "{\"structure\": \"C\", \"name\": null}\n");
    std::vector<chem::Molecule> got;
    chem::for_each_jsonl_line(two, "n.jsonl", {.smiles_column = "Structure", .name_column = "LABEL"},
                              [&](chem::Molecule&& m) { got.push_back(std::move(m)); });
    REQUIRE(got.size() == 2);
    CHECK(got[0].name == "ethane");
    CHECK(got[0].properties.at("name") == "other");
    REQUIRE(got[1].ok());
    CHECK(got[1].name.empty());
    REQUIRE(got[1].warnings.size() == 1);
    CHECK(got[1].warnings[0] == "no field 'LABEL' for the name");
  }
}

TEST_CASE("files: MOL2, PDB, JSONL and gzip-compressed inputs through for_each_molecule", "[chem][readers]") {
  const fs::path dir = testing::scratch_dir("readers_formats");
  write_text(dir / "lib.mol2", kEthanolMol2 + kTruncatedMol2 + kAceticAcidMol2);
  write_text(dir / "ens.pdb", kAcetaldehydePdb);
  write_text(dir / "d.jsonl", "{\"smiles\": \"CCO\"}\n{\"smiles\": 1}\n");
  write_gzip(dir / "lib.sdf.gz", kEthanolSdf + kEthanolSdf);
  write_gzip(dir / "list.smi.gz", "CCO ethanol\nC1CC broken\nc1ccccc1 benzene\n");
  write_gzip(dir / "ens.pdb.gz", kAcetaldehydePdb);
  write_gzip(dir / "t.csv.gz", "id,smiles\n1,CCO\n2,CC\n");

  const auto mol2 = chem::read_molecules(dir / "lib.mol2");
  REQUIRE(mol2.size() == 3);
  CHECK(mol2[0].ok());
  CHECK_FALSE(mol2[1].ok());
  CHECK(mol2[2].ok());
  CHECK(mol2[1].error.rfind((dir / "lib.mol2").string() + " record 2 (line 26): ", 0) == 0);

  const auto pdb = chem::read_molecules(dir / "ens.pdb");
  REQUIRE(pdb.size() == 3);
  CHECK(pdb[0].ok());
  CHECK(pdb[2].ok());

  const auto jsonl = chem::read_molecules(dir / "d.jsonl");
  REQUIRE(jsonl.size() == 2);
  CHECK(jsonl[0].ok());
  CHECK(jsonl[1].error == (dir / "d.jsonl").string() + " line 2: field 'smiles' is a number, not a string");

  SECTION("gzip: format from the extension before .gz, records as for the plain file") {
    const auto sdf = chem::read_molecules(dir / "lib.sdf.gz");
    REQUIRE(sdf.size() == 2);
    REQUIRE(sdf[1].ok());
    CHECK(sdf[1].source == "sdf");
    CHECK(sdf[1].file == (dir / "lib.sdf.gz").string());
    CHECK(sdf[1].has_3d);
    CHECK(sdf[1].properties.at("CID") == "702");
    CHECK(sdf[1].mol->getConformer().getAtomPos(0).x == Approx(-0.93));

    const auto smi = chem::read_molecules(dir / "list.smi.gz");
    REQUIRE(smi.size() == 3);
    CHECK(smi[0].name == "ethanol");
    CHECK(smi[1].error.rfind((dir / "list.smi.gz").string() + " line 2: invalid SMILES", 0) == 0);
    CHECK(smi[2].ok());

    const auto ens = chem::read_molecules(dir / "ens.pdb.gz");
    REQUIRE(ens.size() == 3);
    CHECK(ens[2].ok());
    CHECK(ens[2].name == "acetaldehyde");

    const auto csv = chem::read_molecules(dir / "t.csv.gz", {.name_column = "id"});
    REQUIRE(csv.size() == 2);
    CHECK(csv[1].name == "2");
  }
  SECTION("gzip is recognised by its magic bytes whatever the name; a .gz that is not gzip is an error") {
    write_gzip(dir / "hidden.smi", "CCO ethanol\n");
    const auto hidden = chem::read_molecules(dir / "hidden.smi");
    REQUIRE(hidden.size() == 1);
    CHECK(hidden[0].name == "ethanol");

    write_text(dir / "plain.smi.gz", "CCO\n");
    CHECK_THROWS_WITH(chem::read_molecules(dir / "plain.smi.gz"), Catch::Contains("named .gz but not gzip-compressed"));
    write_text(dir / "x.gz", "CCO\n");
    CHECK_THROWS_WITH(chem::read_molecules(dir / "x.gz"), Catch::Contains("cannot tell the format"));
  }
  SECTION("a truncated or corrupt gzip stream is an error for the file; molecules before it were visited") {
    const std::size_t n = 40000;  // ~0.5 MB of text: several reader buffers
    write_gzip(dir / "full.smi.gz", many_smiles_lines(n));
    const std::string bytes = testing::read_file(dir / "full.smi.gz");
    REQUIRE(bytes.size() > 1000);

    write_text(dir / "cut.smi.gz", bytes.substr(0, bytes.size() / 2));
    std::size_t visited = 0, good = 0;
    const std::string cut_error = testing::error_of([&] {
      chem::for_each_molecule(dir / "cut.smi.gz", [&](chem::Molecule&& m) {
        ++visited;
        good += m.ok();
      });
    });
    CHECK(cut_error.find((dir / "cut.smi.gz").string() + ": truncated gzip stream at compressed byte ") !=
          std::string::npos);
    CHECK(visited > 0);
    CHECK(visited < n);
    CHECK(good == visited);  // the cut did not surface as a broken record

    std::string corrupt = bytes;
    for (std::size_t i = corrupt.size() / 3; i < corrupt.size() / 3 + 64; ++i)
      corrupt[i] = static_cast<char>(~corrupt[i]);
    write_text(dir / "bad.smi.gz", corrupt);
    visited = 0;
    const std::string bad_error =
        testing::error_of([&] { chem::for_each_molecule(dir / "bad.smi.gz", [&](chem::Molecule&&) { ++visited; }); });
    CHECK(bad_error.find((dir / "bad.smi.gz").string() + ": corrupt gzip stream at compressed byte ") !=
          std::string::npos);
    CHECK(visited < n);

    write_text(dir / "crc.smi.gz", bytes.substr(0, bytes.size() - 8) + std::string(8, '\0'));  // CRC and size zeroed
    const std::string crc_error = testing::error_of([&] { chem::read_molecules(dir / "crc.smi.gz"); });
    CHECK(crc_error.find("corrupt gzip stream") != std::string::npos);

    const auto whole = chem::read_molecules(dir / "full.smi.gz");
    CHECK(whole.size() == n);
  }
  SECTION("format names in the error list the new formats") {
    write_text(dir / "c.txt", "CCO\n");
    const std::string message = testing::error_of([&] { chem::read_molecules(dir / "c.txt"); });
    for (const char* format : {"mol2", "pdb", "jsonl", "gzip"}) CHECK(message.find(format) != std::string::npos);
    CHECK(chem::read_molecules(dir / "c.txt", {.format = "jsonl"}).at(0).error.find("not valid JSON") !=
          std::string::npos);
  }
}

TEST_CASE("real PDB files from RDKit's data, when installed", "[chem][readers]") {
  const fs::path data = "/usr/share/RDKit/Contrib/CalcLigRMSD/data";
  if (!fs::exists(data / "1d4i_BEG.pdb") || !fs::exists(data / "5dpv.pdb")) {
    WARN("RDKit Contrib data not installed: skipped");
    return;
  }
  // A ligand with no HEADER, COMPND or CONECT: named by the stem, bonded by proximity.
  const auto ligand = chem::read_molecules(data / "1d4i_BEG.pdb");
  REQUIRE(ligand.size() == 1);
  REQUIRE(ligand[0].ok());
  CHECK(ligand[0].name == "1d4i_BEG");
  CHECK(ligand[0].has_3d);
  std::size_t atom_lines = 0;
  std::string first_atom;
  std::istringstream text(testing::read_file(data / "1d4i_BEG.pdb"));
  for (std::string line; std::getline(text, line);)
    if (line.rfind("HETATM", 0) == 0 || line.rfind("ATOM  ", 0) == 0)
      if (atom_lines++ == 0) first_atom = line;
  CHECK(ligand[0].mol->getNumAtoms() == atom_lines);
  const auto p = ligand[0].mol->getConformer().getAtomPos(0);
  CHECK(p.x == Approx(std::stod(first_atom.substr(30, 8))));
  CHECK(p.y == Approx(std::stod(first_atom.substr(38, 8))));
  CHECK(p.z == Approx(std::stod(first_atom.substr(46, 8))));

  // A protein with its HEADER and COMPND: RDKit names it from COMPND MOLECULE.
  const auto protein = chem::read_molecules(data / "5dpv.pdb");
  REQUIRE(protein.size() == 1);
  REQUIRE(protein[0].ok());
  CHECK(protein[0].name == "AURORA KINASE A");
  CHECK(protein[0].mol->getNumAtoms() > 2000);

  // The same file gzip-compressed reads the same.
  const fs::path gz = testing::scratch_dir("readers_real") / "5dpv.pdb.gz";
  write_gzip(gz, testing::read_file(data / "5dpv.pdb"));
  const auto inflated = chem::read_molecules(gz);
  REQUIRE(inflated.size() == 1);
  REQUIRE(inflated[0].ok());
  CHECK(inflated[0].mol->getNumAtoms() == protein[0].mol->getNumAtoms());
  CHECK(heavy_smiles(inflated[0]) == heavy_smiles(protein[0]));
}
