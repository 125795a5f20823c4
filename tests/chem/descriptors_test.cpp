// chem::describe, functional_groups and the scaffolds against Python RDKit 2022.09.3 on ~490 molecules
// (tests/golden/gen_descriptors.py: every 12th NCI SMILES plus salts, metals, isotopes, stereo, ...).
// Skips (77) when RDKit's data files (FragmentDescriptors.csv) are absent.
#include "support/testing.hpp"

#include <molm/chem/descriptors.hpp>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>

using namespace molm;
namespace fs = std::filesystem;

namespace {

[[maybe_unused]] const bool has_rdkit_data = [] {
  try {
    chem::rdkit_data_dir("FragmentDescriptors.csv");
    return true;
  } catch (const molm::error& e) {
    std::fprintf(stderr, "SKIP: %s\n", e.what());
    std::exit(77);
  }
}();

using Row = std::map<std::string, std::string>;

std::vector<std::string> split_tabs(const std::string& line) {
  std::vector<std::string> fields;
  std::size_t start = 0;
  for (std::size_t tab; (tab = line.find('\t', start)) != std::string::npos; start = tab + 1)
    fields.push_back(line.substr(start, tab - start));
  fields.push_back(line.substr(start));
  return fields;
}

std::vector<Row> golden_rows() {
  const fs::path path = testing::golden_dir() / "descriptors/descriptors.tsv";
  std::ifstream in(path);
  REQUIRE(in);
  std::string line;
  REQUIRE(std::getline(in, line));
  const std::vector<std::string> columns = split_tabs(line);
  std::vector<Row> rows;
  while (std::getline(in, line)) {
    const auto fields = split_tabs(line);
    REQUIRE(fields.size() == columns.size());
    Row row;
    for (std::size_t i = 0; i < columns.size(); ++i) row[columns[i]] = fields[i];
    rows.push_back(std::move(row));
  }
  return rows;
}

double number(const std::string& text) {
  char* end = nullptr;
  const double v = std::strtod(text.c_str(), &end);  // correctly rounded: Python's repr reads back exactly
  REQUIRE(end == text.c_str() + text.size());
  return v;
}

std::string groups_text(const std::vector<chem::FunctionalGroup>& groups) {
  std::string text;
  for (const auto& g : groups) text += fmt::format("{}{}:{}", text.empty() ? "" : " ", g.key, g.count);
  return text;
}

// Everything the golden file holds about one molecule, as one comparable string (threads test).
std::string summary(const RDKit::ROMol& mol) {
  const chem::Descriptors d = chem::describe(mol);
  return fmt::format("{:.17g} {:.17g} {:.17g} {:.17g} {} {} {} {} {} {} {} {} | {} | {}", d.molecular_weight,
                     d.exact_mass, d.logp, d.tpsa, d.hbond_donors, d.hbond_acceptors, d.rotatable_bonds, d.rings,
                     d.aromatic_rings, d.heavy_atoms, d.formal_charge, d.formula, groups_text(chem::functional_groups(mol)),
                     chem::murcko_scaffold(mol));
}

}  // namespace

TEST_CASE("describe, functional_groups and scaffolds equal Python RDKit's", "[chem][golden]") {
  const std::vector<Row> rows = golden_rows();
  REQUIRE(rows.size() > 400);
  int compared = 0, invalid = 0, generic_errors = 0, doubles = 0, bit_equal = 0;
  for (const Row& row : rows) {
    INFO("SMILES " << row.at("smiles"));
    const chem::Molecule m = chem::parse_smiles(row.at("smiles"));
    if (row.at("status") == "invalid") {  // RDKit rejects it in Python; so must molm
      CHECK_FALSE(m.ok());
      ++invalid;
      continue;
    }
    REQUIRE(row.at("status") == "ok");
    REQUIRE(m.ok());
    const chem::Descriptors d = chem::describe(m);
    const std::pair<const char*, double> reals[] = {
        {"mw", d.molecular_weight}, {"exact", d.exact_mass}, {"logp", d.logp}, {"tpsa", d.tpsa}};
    for (const auto& [column, value] : reals) {
      const double expected = number(row.at(column));
      INFO(column << ": " << fmt::format("{:.17g} vs Python {:.17g}", value, expected));
      CHECK(std::abs(value - expected) <= 1e-9 * std::abs(expected));
      ++doubles;
      bit_equal += std::memcmp(&value, &expected, sizeof value) == 0;
    }
    CHECK(std::to_string(d.hbond_donors) == row.at("hbd"));
    CHECK(std::to_string(d.hbond_acceptors) == row.at("hba"));
    CHECK(std::to_string(d.rotatable_bonds) == row.at("rotb"));
    CHECK(std::to_string(d.rings) == row.at("rings"));
    CHECK(std::to_string(d.aromatic_rings) == row.at("arom"));
    CHECK(std::to_string(d.heavy_atoms) == row.at("heavy"));
    CHECK(std::to_string(d.formal_charge) == row.at("charge"));
    CHECK(d.formula == row.at("formula"));
    CHECK(groups_text(chem::functional_groups(*m.mol)) == row.at("fr"));
    CHECK(chem::murcko_scaffold(*m.mol) == row.at("murcko"));
    if (row.at("generic") == "<error>") {  // Python's MakeScaffoldGeneric raised
      CHECK_THROWS_AS(chem::generic_scaffold(*m.mol), molm::error);
      ++generic_errors;
    } else {
      CHECK(chem::generic_scaffold(*m.mol) == row.at("generic"));
    }
    ++compared;
  }
  WARN(compared << " molecules compared (" << invalid << " invalid in both, " << generic_errors
                << " generic scaffolds refused by both); " << bit_equal << " of " << doubles
                << " descriptor values bit-identical to Python's");
  CHECK(invalid > 0);
  CHECK(generic_errors > 0);
}

TEST_CASE("functional_groups names the groups of ethyl acetate", "[chem]") {
  const chem::Molecule m = chem::from_smiles("CCOC(C)=O");
  const auto groups = chem::functional_groups(*m.mol);
  std::map<std::string, int> counts;
  for (const auto& g : groups) {
    CHECK(g.count > 0);
    CHECK_FALSE(g.description.empty());
    CHECK(g.description.find('"') == std::string::npos);
    counts[g.key] = g.count;
  }
  CHECK(counts["fr_ester"] == 1);
  CHECK(counts["fr_C_O"] == 1);  // fr_C=O in the file, renamed as Python's Descriptors module does
  const auto ester = std::find_if(groups.begin(), groups.end(), [](const auto& g) { return g.key == "fr_ester"; });
  REQUIRE(ester != groups.end());
  CHECK(ester->description == "Number of esters");

  const auto& patterns = chem::fragment_patterns();
  CHECK(patterns.size() == 85);  // RDKit 2022.09's Descriptors module has 85 fr_* functions
  CHECK(&patterns == &chem::fragment_patterns());  // parsed once
  for (const auto& p : patterns) {
    CHECK(p.key.rfind("fr_", 0) == 0);
    CHECK(p.key.find_first_of("=-") == std::string::npos);
    CHECK(p.smarts.find_first_of("\r\n\t ") == std::string::npos);
  }
  CHECK(chem::functional_groups(*chem::from_smiles("[He]").mol).empty());
}

TEST_CASE("describe gives the textbook values and leaves the molecule alone", "[chem]") {
  const chem::Molecule aspirin = chem::from_smiles("CC(=O)Oc1ccccc1C(=O)O");
  const std::size_t props_before = aspirin.mol->getPropList(/*includePrivate=*/true, /*includeComputed=*/true).size();
  const chem::Descriptors d = chem::describe(aspirin);
  CHECK(d.formula == "C9H8O4");
  CHECK(std::abs(d.molecular_weight - 180.159) < 1e-3);
  CHECK(d.heavy_atoms == 13);
  CHECK(d.rings == 1);
  CHECK(d.aromatic_rings == 1);
  CHECK(d.formal_charge == 0);
  CHECK(aspirin.mol->getPropList(true, true).size() == props_before);  // no cached TPSA / Crippen values left

  CHECK(chem::describe(*chem::from_smiles("CC(=O)[O-].[Na+]").mol).formal_charge == 0);
  CHECK(chem::describe(*chem::from_smiles("CC(=O)[O-]").mol).formal_charge == -1);
  CHECK(chem::murcko_scaffold(*chem::from_smiles("Cc1ccccc1").mol) == "c1ccccc1");
  CHECK(chem::murcko_scaffold(*chem::from_smiles("CCCCO").mol).empty());
  CHECK(chem::generic_scaffold(*chem::from_smiles("O=C1CCCCN1").mol) == "CC1CCCCC1");
}

TEST_CASE("describe refuses a molecule that was not read, saying which and why", "[chem]") {
  const chem::Molecule bad = chem::parse_smiles("C1CC");
  REQUIRE_FALSE(bad.ok());
  const std::string message = testing::error_of([&] { chem::describe(bad); });
  INFO(message);
  CHECK(message.find("C1CC") != std::string::npos);
  CHECK(message.find("not read") != std::string::npos);
  CHECK(message.find(bad.error) != std::string::npos);
}

TEST_CASE("a scaffold Python cannot make generic throws molm::error naming the step", "[chem]") {
  // An NCI copper complex: Python's MakeScaffoldGeneric raises a valence error on it too.
  const chem::Molecule m = chem::from_smiles("N1C2=CC=CC=C2O[Cu]13NC4=CC=CC=C4O3");
  const std::string message = testing::error_of([&] { chem::generic_scaffold(*m.mol); });
  INFO(message);
  CHECK(message.find("generic_scaffold") != std::string::npos);
  CHECK(message.find("valence") != std::string::npos);
  CHECK_FALSE(chem::murcko_scaffold(*m.mol).empty());  // the Murcko scaffold itself is fine
}

TEST_CASE("the fragment catalogue gives the same answers from several threads", "[chem]") {
  std::vector<chem::Molecule> molecules;
  for (const Row& row : golden_rows())
    if (row.at("status") == "ok" && molecules.size() < 160) molecules.push_back(chem::parse_smiles(row.at("smiles")));
  std::vector<std::string> serial(molecules.size()), parallel(molecules.size());
  for (std::size_t i = 0; i < molecules.size(); ++i) serial[i] = summary(*molecules[i].mol);
  // Each thread also reads the same molecules at once: describe/functional_groups must not write to them.
  std::vector<std::string> errors(molecules.size());
#pragma omp parallel for num_threads(4) schedule(dynamic, 1)
  for (long i = 0; i < static_cast<long>(molecules.size()); ++i) {
    try {
      parallel[i] = summary(*molecules[i].mol);
      (void)summary(*molecules[molecules.size() - 1 - i].mol);
    } catch (const std::exception& e) {
      errors[i] = e.what();
    }
  }
  for (std::size_t i = 0; i < molecules.size(); ++i) {
    INFO(molecules[i].input);
    CHECK(errors[i].empty());
    CHECK(parallel[i] == serial[i]);
  }
}

TEST_CASE("a molecule without ring information is handled on a copy", "[chem]") {
  const std::string smiles = "CCOC(=O)C1CCCCC1";  // nothing aromatic: sanitizing changes only rings and valences
  std::unique_ptr<RDKit::RWMol> raw(RDKit::SmilesToMol(smiles, /*debugParse=*/0, /*sanitize=*/false));
  REQUIRE(raw);
  raw->updatePropertyCache(/*strict=*/false);
  REQUIRE_FALSE(raw->getRingInfo()->isInitialized());
  const chem::Molecule sane = chem::from_smiles(smiles);
  CHECK(groups_text(chem::functional_groups(*raw)) == groups_text(chem::functional_groups(*sane.mol)));
  CHECK(chem::murcko_scaffold(*raw) == "C1CCCCC1");
  CHECK(chem::describe(*raw).rings == 1);
  CHECK_FALSE(raw->getRingInfo()->isInitialized());  // the caller's molecule was not touched
}

TEST_CASE("rdkit_data_dir names every place it looked", "[chem]") {
  const std::string message = testing::error_of([] { chem::rdkit_data_dir("no_such_file.csv"); });
  INFO(message);
  CHECK(message.find("/usr/share/RDKit/Data/no_such_file.csv") != std::string::npos);
  CHECK(message.find("RDDATADIR") != std::string::npos);
  CHECK(fs::is_regular_file(chem::rdkit_data_dir() / "FragmentDescriptors.csv"));
}
