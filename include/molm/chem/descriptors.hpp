// What a molecule is, in numbers: RDKit descriptors, functional groups and scaffolds, each equal to
// what Python RDKit (same version) computes, so texts and filters built here match RDKit notebooks.
//
//   auto d = chem::describe(chem::from_smiles("CCOC(C)=O"));   // d.molecular_weight 88.106, d.formula "C4H8O2"
//   for (auto& g : chem::functional_groups(*m.mol))             // {"fr_ester", "Number of esters", 1}, ...
//   chem::murcko_scaffold(*m.mol);                              // "c1ccccc1" for toluene, "" if acyclic
//   chem::generic_scaffold(*m.mol);                             // "C1CCCCC1": all atoms C, all bonds single
//
// Python equivalents (RDKit 2022.09; tests/golden/gen_descriptors.py checks every field):
//   molecular_weight Descriptors.MolWt      exact_mass ExactMolWt        logp Crippen.MolLogP
//   tpsa Descriptors.TPSA (N and O only)    hbond_donors NumHDonors       hbond_acceptors NumHAcceptors
//   rotatable_bonds NumRotatableBonds       rings CalcNumRings            aromatic_rings CalcNumAromaticRings
//   heavy_atoms HeavyAtomCount              formal_charge GetFormalCharge formula CalcMolFormula
//   functional_groups: the nonzero Descriptors.fr_*     murcko_scaffold: MurckoScaffold.MurckoScaffoldSmiles
//   generic_scaffold: MolToSmiles(MakeScaffoldGeneric(GetScaffoldForMol(m)))
// NumRotatableBonds is RDKit's "Default" definition, which is Strict (amide C-N, triple-bond
// neighbours and CF3-like groups not rotatable); molm asks for Strict by name, so a host program that
// changed RDKit's process-wide default still gets Python's numbers.
// All functions are thread-safe (OpenMP loops call them): they read `mol` and never write to it, not
// even RDKit's cached properties (they work on a copy where RDKit would cache).
#pragma once

#include "molm/chem/molecule.hpp"
#include "molm/chem/rdkit_log.hpp"
#include "molm/core/error.hpp"

#include <GraphMol/ChemTransforms/ChemTransforms.h>
#include <GraphMol/Descriptors/Crippen.h>
#include <GraphMol/Descriptors/Lipinski.h>
#include <GraphMol/Descriptors/MolDescriptors.h>
#include <GraphMol/Descriptors/MolSurf.h>
#include <GraphMol/MolOps.h>
#include <GraphMol/ROMol.h>
#include <GraphMol/RWMol.h>
#include <GraphMol/SmilesParse/SmilesParse.h>
#include <GraphMol/SmilesParse/SmilesWrite.h>
#include <GraphMol/Substruct/SubstructMatch.h>

#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace molm::chem {

struct Descriptors {
  double molecular_weight = 0;  // average molecular weight, implicit hydrogens counted, g/mol
  double exact_mass = 0;        // monoisotopic mass (isotopes as labelled), g/mol
  double logp = 0;              // Wildman-Crippen logP
  double tpsa = 0;              // topological polar surface area (N and O contributions), Å²
  int hbond_donors = 0;
  int hbond_acceptors = 0;
  int rotatable_bonds = 0;  // strict definition, as Python's NumRotatableBonds
  int rings = 0;            // SSSR ring count
  int aromatic_rings = 0;
  int heavy_atoms = 0;      // atoms other than hydrogen (deuterium counts as hydrogen; dummy atoms are not heavy)
  int formal_charge = 0;    // sum over atoms
  std::string formula;      // Hill order, charge appended ("C2H3O2-"), isotopes as [13C], D and T
};

/// One fr_* group present in a molecule: Python's descriptor name, RDKit's description, its count.
struct FunctionalGroup {
  std::string key;          // "fr_ester" (as Python's Descriptors module names it: '=' and '-' made '_')
  std::string description;  // "Number of esters"
  int count = 0;
};

/// One line of RDKit's FragmentDescriptors.csv, parsed.
struct FragmentPattern {
  std::string key;
  std::string description;
  std::string smarts;
  std::shared_ptr<const RDKit::ROMol> query;
};

namespace detail {

/// A copy of `mol` with ring information, when `mol` lacks it (RDKit's matchers and ring counts
/// need it; a sanitized molecule has it, so usually no copy is made and `mol` itself is used).
class WithRings {
 public:
  explicit WithRings(const RDKit::ROMol& mol) : mol_(&mol) {
    if (!mol.getRingInfo()->isInitialized()) {
      copy_ = std::make_unique<RDKit::ROMol>(mol);
      RDKit::MolOps::symmetrizeSSSR(*copy_);  // what sanitization leaves
      mol_ = copy_.get();
    }
  }
  const RDKit::ROMol& operator*() const { return *mol_; }

 private:
  const RDKit::ROMol* mol_;
  std::unique_ptr<RDKit::ROMol> copy_;
};

/// Runs an RDKit call, turning its exceptions (sanitization, valence) into molm::error saying what
/// was being computed; RDKit's log lines are kept out of the terminal and put into that message.
template <class F>
auto rdkit_call(const char* what, F&& f) -> decltype(f()) {
  CaptureRdkitLogs logs;
  try {
    return f();
  } catch (const molm::error&) {
    throw;
  } catch (const std::exception& e) {
    const std::string logged = logs.text();
    MOLM_THROW("chem", "{}: RDKit failed: {}{}{}", what, e.what(), logged.empty() ? "" : "; ", logged);
  }
}

}  // namespace detail

/// The folder of RDKit's data files: the first of $RDDATADIR, $RDBASE/Data and /usr/share/RDKit/Data
/// (Debian's) that holds `file`, as Python's RDConfig.RDDataDir. Throws molm::error naming the
/// paths tried when none does.
inline std::filesystem::path rdkit_data_dir(std::string_view file = "FragmentDescriptors.csv") {
  std::vector<std::filesystem::path> candidates;
  if (const char* dir = std::getenv("RDDATADIR"); dir && *dir) candidates.emplace_back(dir);
  if (const char* base = std::getenv("RDBASE"); base && *base) candidates.emplace_back(std::filesystem::path(base) / "Data");
  candidates.emplace_back("/usr/share/RDKit/Data");
  std::string tried;
  for (const auto& dir : candidates) {
    std::error_code ec;
    if (std::filesystem::is_regular_file(dir / file, ec)) return dir;
    tried += fmt::format("{}{}", tried.empty() ? "" : ", ", (dir / file).string());
  }
  MOLM_THROW("chem", "RDKit data file {} not found (tried {}); install RDKit's data (Debian: rdkit-data) or set RDDATADIR",
             file, tried);
}

/// Parse a FragmentDescriptors.csv the way Python's rdkit.Chem.Fragments does: '#' lines skipped,
/// tab-separated code, description (quotes dropped), SMARTS; lines with fewer fields skipped; one
/// pattern per name (85 in RDKit 2022.09, as Python's Descriptors module has).
inline std::vector<FragmentPattern> load_fragment_patterns(const std::filesystem::path& path) {
  std::ifstream in(path);
  MOLM_CHECK(in, "chem", "cannot open {}", path.string());
  std::vector<FragmentPattern> patterns;
  std::string line;
  for (std::size_t number = 1; std::getline(in, line); ++number) {
    if (line.empty() || line[0] == '#') continue;
    std::vector<std::string> fields;
    for (std::size_t start = 0;;) {
      const std::size_t tab = line.find('\t', start);
      fields.push_back(line.substr(start, tab == std::string::npos ? std::string::npos : tab - start));
      if (tab == std::string::npos) break;
      start = tab + 1;
    }
    if (fields.size() < 3) continue;
    FragmentPattern p;
    p.key = fields[0];
    for (char& c : p.key)
      if (c == '=' || c == '-') c = '_';  // fr_C=O -> fr_C_O, as Fragments.py names the function
    for (char c : fields[1])
      if (c != '"') p.description += c;
    p.smarts = std::string(detail::trim(fields[2]));  // the last field ends in "\r"/"\n" text; RDKit ignores it too
    std::unique_ptr<RDKit::RWMol> query;
    {
      CaptureRdkitLogs logs;
      try {
        query.reset(RDKit::SmartsToMol(p.smarts));
      } catch (const std::exception&) {
      }
      MOLM_CHECK(query && query->getNumAtoms() > 0, "chem", "{} line {}: SMARTS '{}' of {} does not parse{}{}",
                 path.string(), number, p.smarts, p.key, logs.text().empty() ? "" : ": ", logs.text());
    }
    p.query = std::move(query);
    // RDKit 2022.09's file lists fr_sulfone twice (identical lines). Python keeps one function per
    // name, the last defined; keep the first position so each key is reported once.
    const auto same = std::find_if(patterns.begin(), patterns.end(), [&](const auto& q) { return q.key == p.key; });
    if (same != patterns.end())
      *same = std::move(p);
    else
      patterns.push_back(std::move(p));
  }
  MOLM_CHECK(!patterns.empty(), "chem", "{} holds no fragment patterns", path.string());
  return patterns;
}

/// RDKit's fragment catalogue (the fr_* descriptors), read and parsed once, on first use, from
/// rdkit_data_dir()/FragmentDescriptors.csv. Thread-safe: a function-local static. If the file is
/// missing, every call throws again (nothing is cached).
inline const std::vector<FragmentPattern>& fragment_patterns() {
  static const std::vector<FragmentPattern> patterns =
      load_fragment_patterns(rdkit_data_dir("FragmentDescriptors.csv") / "FragmentDescriptors.csv");
  return patterns;
}

/// Number of matches of one pattern, counted as Python's fr_* functions count:
/// len(mol.GetSubstructMatches(patt, uniquify=True)), which stops at maxMatches = 1000.
inline int count_matches(const RDKit::ROMol& mol, const RDKit::ROMol& query) {
  RDKit::SubstructMatchParameters params;
  params.uniquify = true;
  params.useChirality = false;
  params.useQueryQueryMatches = false;
  params.maxMatches = 1000;
  return static_cast<int>(RDKit::SubstructMatch(mol, query, params).size());
}

/// The fr_* groups present in `mol` (count > 0), in FragmentDescriptors.csv order.
inline std::vector<FunctionalGroup> functional_groups(const RDKit::ROMol& mol) {
  const auto& patterns = fragment_patterns();
  return detail::rdkit_call("functional_groups", [&] {
    detail::WithRings target(mol);
    std::vector<FunctionalGroup> groups;
    for (const FragmentPattern& p : patterns)
      if (const int n = count_matches(*target, *p.query); n > 0) groups.push_back({p.key, p.description, n});
    return groups;
  });
}

/// The descriptors of `mol` (see the table above). Throws molm::error if RDKit cannot compute them.
inline Descriptors describe(const RDKit::ROMol& mol) {
  return detail::rdkit_call("describe", [&] {
    // calcTPSA and calcCrippenDescriptors cache their results in the molecule's properties: work on
    // a private copy so `mol` is untouched and threads sharing it do not race; force=true so a value
    // cached in the caller's molecule before it was edited is not reused.
    RDKit::ROMol copy(mol);
    if (!copy.getRingInfo()->isInitialized()) RDKit::MolOps::symmetrizeSSSR(copy);
    Descriptors d;
    d.molecular_weight = RDKit::Descriptors::calcAMW(copy, /*onlyHeavy=*/false);
    d.exact_mass = RDKit::Descriptors::calcExactMW(copy, /*onlyHeavy=*/false);
    double molar_refractivity = 0;
    RDKit::Descriptors::calcCrippenDescriptors(copy, d.logp, molar_refractivity, /*includeHs=*/true, /*force=*/true);
    d.tpsa = RDKit::Descriptors::calcTPSA(copy, /*force=*/true, /*includeSandP=*/false);
    d.hbond_donors = static_cast<int>(RDKit::Descriptors::calcNumHBD(copy));
    d.hbond_acceptors = static_cast<int>(RDKit::Descriptors::calcNumHBA(copy));
    d.rotatable_bonds = static_cast<int>(RDKit::Descriptors::calcNumRotatableBonds(copy, RDKit::Descriptors::Strict));
    d.rings = static_cast<int>(RDKit::Descriptors::calcNumRings(copy));
    d.aromatic_rings = static_cast<int>(RDKit::Descriptors::calcNumAromaticRings(copy));
    d.heavy_atoms = static_cast<int>(copy.getNumHeavyAtoms());
    d.formal_charge = RDKit::MolOps::getFormalCharge(copy);
    d.formula = RDKit::Descriptors::calcMolFormula(copy, /*separateIsotopes=*/false, /*abbreviateHIsotopes=*/true);
    return d;
  });
}

/// The descriptors of a parsed molecule; throws molm::error naming the input when it did not parse.
inline Descriptors describe(const Molecule& m) {
  MOLM_CHECK(m.ok(), "chem", "cannot describe molecule '{}'{}: it was not read ({})", m.input,
             m.record ? fmt::format(" ({} record {})", m.file, m.record) : std::string(),
             m.error.empty() ? "no molecule" : m.error);
  return describe(*m.mol);
}

namespace detail {

/// Python's MurckoScaffold.GetScaffoldForMol: RDKit's MurckoDecompose (side chains off, ring systems
/// and linkers kept, with exocyclic double-bonded atoms), then the clean-up the Python function adds
/// (computed properties cleared, valences recomputed strictly, symmetrized SSSR). An acyclic
/// molecule gives an empty molecule.
inline std::unique_ptr<RDKit::ROMol> scaffold_for(const RDKit::ROMol& mol) {
  WithRings input(mol);
  std::unique_ptr<RDKit::ROMol> scaffold(RDKit::MurckoDecompose(*input));
  MOLM_CHECK(scaffold != nullptr, "chem", "MurckoDecompose returned no molecule");
  scaffold->clearComputedProps();
  scaffold->updatePropertyCache(/*strict=*/true);
  RDKit::MolOps::symmetrizeSSSR(*scaffold);
  return scaffold;
}

}  // namespace detail

/// The Bemis-Murcko scaffold as canonical SMILES without stereo or isotopes (Python's
/// MurckoScaffoldSmiles(mol=m), whose includeChirality=False is MolToSmiles' isomericSmiles);
/// "" for an acyclic molecule. Throws molm::error if RDKit cannot build it.
inline std::string murcko_scaffold(const RDKit::ROMol& mol) {
  return detail::rdkit_call("murcko_scaffold", [&] {
    auto scaffold = detail::scaffold_for(mol);
    return RDKit::MolToSmiles(*scaffold, /*doIsomericSmiles=*/false);
  });
}

/// The generic (graph) scaffold: the Murcko scaffold with every heavy atom made carbon and every
/// bond single, as canonical isomeric SMILES (Python's MakeScaffoldGeneric; isotope labels survive
/// it, as in Python). "" for an acyclic molecule. Throws molm::error where Python raises too: a
/// scaffold atom with more than four bonds (P, S, metals) cannot become carbon.
inline std::string generic_scaffold(const RDKit::ROMol& mol) {
  return detail::rdkit_call("generic_scaffold", [&] {
    auto scaffold = detail::scaffold_for(mol);
    RDKit::RWMol generic(*scaffold);
    for (RDKit::Atom* atom : generic.atoms()) {
      if (atom->getAtomicNum() != 1) atom->setAtomicNum(6);
      atom->setIsAromatic(false);
      atom->setFormalCharge(0);
      atom->setChiralTag(RDKit::Atom::CHI_UNSPECIFIED);
      atom->setNoImplicit(false);
      atom->setNumExplicitHs(0);
    }
    for (RDKit::Bond* bond : generic.bonds()) {
      bond->setBondType(RDKit::Bond::SINGLE);
      bond->setIsAromatic(false);
    }
    std::unique_ptr<RDKit::ROMol> heavy(
        RDKit::MolOps::removeHs(static_cast<const RDKit::ROMol&>(generic), /*implicitOnly=*/false, /*updateExplicitCount=*/false, /*sanitize=*/true));
    return RDKit::MolToSmiles(*heavy);
  });
}

}  // namespace molm::chem
