// The embedded default data set: real molecules with no download. Debian's rdkit-data package
// ships the NCI `first_5K.smi` set; from it molm derives, with RDKit,
//   - a deterministic scaffold split into train / valid / test,
//   - computed-property QA in 3D-MoLM's question templates (reference-model.md §6.1),
//   - template descriptions from descriptors, functional groups and the Murcko scaffold.
// Every derived text is marked `derived` (data::MoleculeText::derived, and "derived": true in the
// exported files): it is generated from RDKit values, not written by a chemist, and says nothing a
// model could not compute. It exists so that `molm demo` and the tests run end to end offline.
//
//   auto set = data::build_default_set();                    // finds first_5K.smi, ~5 s on 2 cores
//   auto train = set.property_qa(data::Split::train);         // a Dataset<MoleculeText>
//   auto captions = set.captions(data::Split::test);
//   data::write_default_set(set, "default-set/");            // the files `molm default-data` writes
//
// Property answers use the reference's sentence, number format and units ("The Molecular Weight for
// the input molecule is 180.16 g/mol."); the integer-valued tasks this set adds (H-bond donors and
// acceptors, rings) are written with two decimals too ("2.00"), as PubChem's integer Complexity is
// in the reference, because the reference's evaluation regex (§7.3) only reads numbers with a
// decimal point.
#pragma once

#include "molm/chem/descriptors.hpp"
#include "molm/chem/molecule.hpp"
#include "molm/core/error.hpp"
#include "molm/core/random.hpp"
#include "molm/data/dataset.hpp"
#include "molm/data/sample.hpp"
#include "molm/io/atomic_file.hpp"

#include <nlohmann/json.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace molm::data {

enum class Split { train, valid, test };

inline const char* name(Split s) { return s == Split::train ? "train" : s == Split::valid ? "valid" : "test"; }

struct DefaultSetOptions {
  std::filesystem::path smiles_file{};  ///< "" = find first_5K.smi (find_nci_smiles)
  std::uint64_t seed = 0;               ///< picks each question's template
  double train_fraction = 0.8, valid_fraction = 0.1;  ///< the rest is test
  std::size_t limit = 0;                ///< use only the first `limit` lines (0 = all): quick tests and demos
};

/// One computed-property question about a molecule.
struct PropertyQuestion {
  std::string task;         ///< "Molecular Weight", "LogP", …
  std::string instruction;  ///< a §6.1 template with the property name, plus the fixed suffix
  std::string answer;       ///< "The LogP for the input molecule is 1.31."
  double value = 0;         ///< the RDKit value, unrounded
};

struct DefaultMolecule {
  std::string id;                ///< "NCI-<number>" from the file's second column
  std::size_t line = 0;          ///< 1-based line in the SMILES file
  std::string smiles;            ///< canonical isomeric SMILES (RDKit)
  std::string scaffold;          ///< Bemis–Murcko scaffold SMILES, "" for acyclic molecules
  Split split = Split::train;
  chem::Descriptors descriptors;
  std::vector<chem::FunctionalGroup> groups;
  std::string description;       ///< the template description (derived)
  std::vector<PropertyQuestion> questions;
};

/// A line of the SMILES file that RDKit could not read, kept out of the set and reported.
struct DefaultSetFailure {
  std::size_t line = 0;
  std::string input, error;
};

/// The computed-property tasks, in order: the three of the reference's PubChem 2D family that RDKit
/// computes (§6.1; PubChem's Complexity has no RDKit equivalent), then the counts this set adds.
inline const std::vector<std::string>& default_property_tasks() {
  static const std::vector<std::string> tasks = {
      "Molecular Weight",           "LogP", "Topological Polar Surface Area", "Hydrogen Bond Donor Count",
      "Hydrogen Bond Acceptor Count", "Ring Count"};
  return tasks;
}

/// The reference's eight instruction templates, `[property]` to be replaced, and the suffix.
inline const std::vector<std::string>& property_question_templates() {
  static const std::vector<std::string> t = {
      "What is the [property] of this molecule? ",
      "Could you give me the [property] value of this molecule? ",
      "I would like to know the [property] of this molecule, can you provide it? ",
      "Please provide the [property] value for this molecule. ",
      "I am interested in the [property] of this molecule, could you tell me what it is? ",
      "I would like to know the [property] of this molecule, could you please provide it? ",
      "I need to know the [property] of this molecule, could you please provide it? ",
      // two sentences: the reference generator's list lacks a comma here (§6.1)
      "Please provide me with the [property] value of this molecule. Determine the [property] value of this molecule. ",
  };
  return t;
}
inline constexpr std::string_view kPropertyQuestionSuffix =
    "If uncertain, provide an estimate. Respond with the numerical value only.";

/// `template` with every `[property]` replaced by `property`, then the suffix.
inline std::string property_instruction(std::string_view templ, std::string_view property) {
  std::string out;
  for (std::size_t i = 0; i < templ.size();) {
    if (templ.compare(i, 10, "[property]") == 0) {
      out += property;
      i += 10;
    } else {
      out += templ[i++];
    }
  }
  return out + std::string(kPropertyQuestionSuffix);
}

/// The answer sentence for `task` = `value`, formatted as the reference formats PubChem 2D values.
inline std::string property_answer(std::string_view task, double value) {
  const char* unit = task == "Molecular Weight" ? " g/mol" : task == "Topological Polar Surface Area" ? " \u00c5\u00b2" : "";
  return fmt::format("The {} for the input molecule is {:.2f}{}.", task, value, unit);
}

/// first_5K.smi from Debian's rdkit-data: $RDDATADIR, $RDBASE/Data, then /usr/share/RDKit/Data.
inline std::filesystem::path find_nci_smiles() {
  return chem::rdkit_data_dir("NCI/first_5K.smi") / "NCI" / "first_5K.smi";
}

namespace detail {

/// Readable names for the functional groups a description mentions: (fr_ key, singular, plural).
/// A curated, non-overlapping subset of RDKit's fragment list (fr_COO2, fr_C=O, … would repeat others).
struct GroupPhrase {
  const char* key;
  const char* one;
  const char* many;
};
inline const std::vector<GroupPhrase>& group_phrases() {
  static const std::vector<GroupPhrase> phrases = {
      {"fr_COO", "a carboxylic acid", "carboxylic acids"},
      {"fr_ester", "an ester", "esters"},
      {"fr_lactone", "a lactone", "lactones"},
      {"fr_amide", "an amide", "amides"},
      {"fr_lactam", "a beta-lactam", "beta-lactams"},
      {"fr_imide", "an imide", "imides"},
      {"fr_urea", "a urea group", "urea groups"},
      {"fr_ketone", "a ketone", "ketones"},
      {"fr_aldehyde", "an aldehyde", "aldehydes"},
      {"fr_Al_OH", "an aliphatic hydroxyl group", "aliphatic hydroxyl groups"},
      {"fr_Ar_OH", "an aromatic hydroxyl group", "aromatic hydroxyl groups"},
      {"fr_ether", "an ether oxygen", "ether oxygens"},
      {"fr_epoxide", "an epoxide", "epoxides"},
      {"fr_NH2", "a primary amine", "primary amines"},
      {"fr_NH1", "a secondary amine", "secondary amines"},
      {"fr_NH0", "a tertiary amine", "tertiary amines"},
      {"fr_quatN", "a quaternary nitrogen", "quaternary nitrogens"},
      {"fr_Imine", "an imine", "imines"},
      {"fr_oxime", "an oxime", "oximes"},
      {"fr_guanido", "a guanidine group", "guanidine groups"},
      {"fr_amidine", "an amidine group", "amidine groups"},
      {"fr_nitrile", "a nitrile", "nitriles"},
      {"fr_nitro", "a nitro group", "nitro groups"},
      {"fr_nitroso", "a nitroso group", "nitroso groups"},
      {"fr_azo", "an azo group", "azo groups"},
      {"fr_azide", "an azide", "azides"},
      {"fr_hdrzine", "a hydrazine group", "hydrazine groups"},
      {"fr_hdrzone", "a hydrazone group", "hydrazone groups"},
      {"fr_isocyan", "an isocyanate", "isocyanates"},
      {"fr_isothiocyan", "an isothiocyanate", "isothiocyanates"},
      {"fr_thiocyan", "a thiocyanate", "thiocyanates"},
      {"fr_halogen", "a halogen atom", "halogen atoms"},
      {"fr_SH", "a thiol", "thiols"},
      {"fr_sulfide", "a thioether", "thioethers"},
      {"fr_C_S", "a thiocarbonyl group", "thiocarbonyl groups"},
      {"fr_sulfone", "a sulfone", "sulfones"},
      {"fr_sulfonamd", "a sulfonamide", "sulfonamides"},
      {"fr_phos_acid", "a phosphoric acid group", "phosphoric acid groups"},
      {"fr_phos_ester", "a phosphoric ester", "phosphoric esters"},
      {"fr_term_acetylene", "a terminal alkyne", "terminal alkynes"},
      {"fr_benzene", "a benzene ring", "benzene rings"},
      {"fr_pyridine", "a pyridine ring", "pyridine rings"},
      {"fr_furan", "a furan ring", "furan rings"},
      {"fr_thiophene", "a thiophene ring", "thiophene rings"},
      {"fr_imidazole", "an imidazole ring", "imidazole rings"},
      {"fr_thiazole", "a thiazole ring", "thiazole rings"},
      {"fr_oxazole", "an oxazole ring", "oxazole rings"},
      {"fr_tetrazole", "a tetrazole ring", "tetrazole rings"},
      {"fr_piperdine", "a piperidine ring", "piperidine rings"},
      {"fr_piperzine", "a piperazine ring", "piperazine rings"},
      {"fr_morpholine", "a morpholine ring", "morpholine rings"},
      {"fr_barbitur", "a barbiturate group", "barbiturate groups"},
      {"fr_benzodiazepine", "a benzodiazepine core", "benzodiazepine cores"},
  };
  return phrases;
}

inline std::string number_word(int n) {
  static const char* words[] = {"no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"};
  return n >= 0 && n <= 10 ? words[n] : std::to_string(n);
}

inline std::string counted(int n, const char* one, const char* many) {
  return n == 1 ? std::string(one) : number_word(n) + " " + many;
}

/// "a, b and c".
inline std::string join_list(const std::vector<std::string>& items) {
  std::string out;
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out += i + 1 == items.size() ? " and " : ", ";
    out += items[i];
  }
  return out;
}

}  // namespace detail

/// The template description of a molecule: formula and weight, rings and scaffold, functional
/// groups, H-bonding, LogP and TPSA, charge and fragments. Deterministic; every fact from RDKit.
inline std::string template_description(const chem::Descriptors& d, const std::vector<chem::FunctionalGroup>& groups,
                                        std::string_view scaffold, std::string_view smiles) {
  using detail::counted;
  std::string text = fmt::format("The molecule has the formula {} and a molecular weight of {:.2f} g/mol, with {} "
                                 "heavy atoms.",
                                 d.formula, d.molecular_weight, d.heavy_atoms);
  const auto fragments = static_cast<int>(std::count(smiles.begin(), smiles.end(), '.')) + 1;
  if (fragments > 1) text += fmt::format(" It consists of {} separate components (a salt or mixture).",
                                         detail::number_word(fragments));
  if (d.rings == 0) {
    text += " It is acyclic.";
  } else {
    text += fmt::format(" It contains {}", counted(d.rings, "one ring", "rings"));
    if (d.aromatic_rings == d.rings) text += d.rings == 1 ? ", which is aromatic" : ", all aromatic";
    else if (d.aromatic_rings > 0) text += fmt::format(", {} of them aromatic", detail::number_word(d.aromatic_rings));
    text += fmt::format("; its Bemis-Murcko scaffold is {}.", scaffold);
  }
  std::map<std::string, int> count;
  for (const auto& g : groups) count[g.key] = g.count;
  std::vector<std::string> named;
  for (const auto& p : detail::group_phrases()) {
    const auto it = count.find(p.key);
    if (it != count.end() && it->second > 0) named.push_back(counted(it->second, p.one, p.many));
  }
  if (!named.empty()) text += " Functional groups: " + detail::join_list(named) + ".";
  text += fmt::format(" It has {} and {}, {}, a Crippen LogP of {:.2f} and a topological polar surface area of "
                      "{:.2f} \u00c5\u00b2.",
                      counted(d.hbond_donors, "one hydrogen-bond donor", "hydrogen-bond donors"),
                      counted(d.hbond_acceptors, "one acceptor", "acceptors"),
                      counted(d.rotatable_bonds, "one rotatable bond", "rotatable bonds"), d.logp, d.tpsa);
  if (d.formal_charge != 0) text += fmt::format(" Its net formal charge is {:+d}.", d.formal_charge);
  return text;
}

/// The value of a default-set property task from the descriptors.
inline double property_value(const chem::Descriptors& d, std::string_view task) {
  if (task == "Molecular Weight") return d.molecular_weight;
  if (task == "LogP") return d.logp;
  if (task == "Topological Polar Surface Area") return d.tpsa;
  if (task == "Hydrogen Bond Donor Count") return d.hbond_donors;
  if (task == "Hydrogen Bond Acceptor Count") return d.hbond_acceptors;
  if (task == "Ring Count") return d.rings;
  MOLM_THROW("data", "unknown default-set property task '{}'", task);
}

/// Deterministic scaffold split (the rule of DeepChem's ScaffoldSplitter): group molecules by
/// Murcko scaffold, order the groups largest first (ties: earliest molecule first), and fill
/// train, then valid, then test, a whole group at a time. No scaffold is in two splits, and the
/// rare scaffolds — the hard cases — end up in valid and test.
inline std::vector<Split> scaffold_split(const std::vector<std::string>& scaffolds, double train_fraction,
                                         double valid_fraction) {
  MOLM_CHECK(train_fraction >= 0 && valid_fraction >= 0 && train_fraction + valid_fraction <= 1.0, "data",
             "scaffold split: fractions train {} + valid {} must lie in [0, 1]", train_fraction, valid_fraction);
  std::map<std::string, std::vector<std::size_t>> groups;
  for (std::size_t i = 0; i < scaffolds.size(); ++i) groups[scaffolds[i]].push_back(i);
  std::vector<const std::vector<std::size_t>*> order;
  for (const auto& [scaffold, members] : groups) order.push_back(&members);
  std::sort(order.begin(), order.end(), [](const auto* a, const auto* b) {
    return a->size() != b->size() ? a->size() > b->size() : a->front() < b->front();
  });
  const double n = static_cast<double>(scaffolds.size());
  const double train_cut = train_fraction * n, valid_cut = (train_fraction + valid_fraction) * n;
  std::vector<Split> split(scaffolds.size(), Split::test);
  std::size_t train = 0, valid = 0;
  for (const auto* members : order) {
    Split s = Split::test;
    if (static_cast<double>(train + members->size()) <= train_cut) {
      s = Split::train;
      train += members->size();
    } else if (static_cast<double>(train + valid + members->size()) <= valid_cut) {
      s = Split::valid;
      valid += members->size();
    }
    for (std::size_t i : *members) split[i] = s;
  }
  return split;
}

class DefaultSet {
 public:
  std::filesystem::path source;
  std::vector<DefaultMolecule> molecules;
  std::vector<DefaultSetFailure> failures;

  std::size_t count(Split s) const {
    return static_cast<std::size_t>(
        std::count_if(molecules.begin(), molecules.end(), [&](const DefaultMolecule& m) { return m.split == s; }));
  }

  /// One property question per (molecule, task) of the split, in molecule then task order.
  VectorDataset<MoleculeText> property_qa(Split s) const {
    std::vector<MoleculeText> out;
    for (const auto& m : molecules) {
      if (m.split != s) continue;
      for (const auto& q : m.questions)
        out.push_back({m.id, m.smiles, q.task, q.instruction, q.answer, q.value, /*derived=*/true});
    }
    return VectorDataset<MoleculeText>(std::move(out), fmt::format("default-nci/{}/property-qa", name(s)));
  }

  /// One template description per molecule of the split (task "Caption", derived).
  VectorDataset<MoleculeText> captions(Split s) const {
    std::vector<MoleculeText> out;
    for (const auto& m : molecules)
      if (m.split == s) out.push_back({m.id, m.smiles, "Caption", "", m.description, std::nullopt, /*derived=*/true});
    return VectorDataset<MoleculeText>(std::move(out), fmt::format("default-nci/{}/captions", name(s)));
  }
};

/// Read the NCI SMILES file and derive the whole set (OpenMP over molecules; the result does not
/// depend on the thread count).
inline DefaultSet build_default_set(const DefaultSetOptions& options = {}) {
  DefaultSet set;
  set.source = options.smiles_file.empty() ? find_nci_smiles() : options.smiles_file;
  std::ifstream in(set.source, std::ios::binary);
  MOLM_CHECK(in.good(), "data", "{}: cannot open for reading", set.source.string());

  struct Line {
    std::size_t number;
    std::string smiles, id;
  };
  std::vector<Line> lines;
  std::string text;
  for (std::size_t number = 1; std::getline(in, text); ++number) {
    if (!text.empty() && text.back() == '\r') text.pop_back();
    const auto t = chem::detail::trim(text);
    if (t.empty() || t.front() == '#') continue;
    const auto cut = t.find_first_of(" \t");
    const std::string smiles(t.substr(0, cut));
    const std::string id(cut == std::string_view::npos ? std::string_view{} : chem::detail::trim(t.substr(cut)));
    lines.push_back({number, smiles, id.empty() ? std::to_string(number) : id});
    if (options.limit > 0 && lines.size() == options.limit) break;
  }

  std::vector<DefaultMolecule> built(lines.size());
  std::vector<std::string> errors(lines.size());
#pragma omp parallel for schedule(dynamic, 16)
  for (std::size_t i = 0; i < lines.size(); ++i) {
    const auto m = chem::parse_smiles(lines[i].smiles);
    if (!m.ok()) {
      errors[i] = m.error.empty() ? std::string("RDKit could not read the SMILES") : m.error;
      continue;
    }
    auto& out = built[i];
    try {  // nothing may escape an OpenMP loop: an RDKit failure is this molecule's failure
      out.id = "NCI-" + lines[i].id;
      out.line = lines[i].number;
      out.smiles = chem::canonical_smiles(*m.mol);
      out.scaffold = chem::murcko_scaffold(*m.mol);
      out.descriptors = chem::describe(*m.mol);
      out.groups = chem::functional_groups(*m.mol);
      out.description = template_description(out.descriptors, out.groups, out.scaffold, out.smiles);
    } catch (const std::exception& e) {
      errors[i] = e.what();
    }
  }

  std::vector<std::string> scaffolds;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    if (!errors[i].empty()) {
      set.failures.push_back({lines[i].number, lines[i].smiles, errors[i]});
      continue;
    }
    set.molecules.push_back(std::move(built[i]));
    scaffolds.push_back(set.molecules.back().scaffold);
  }
  const auto split = scaffold_split(scaffolds, options.train_fraction, options.valid_fraction);
  const auto& templates = property_question_templates();
  const auto& tasks = default_property_tasks();
  for (std::size_t i = 0; i < set.molecules.size(); ++i) {
    auto& m = set.molecules[i];
    m.split = split[i];
    for (std::size_t t = 0; t < tasks.size(); ++t) {
      // one template per (molecule, property), drawn from (seed, input line, task): stable when
      // other lines are added or removed
      const auto w = philox4x32(options.seed, 0x74656d706c617465ull /* "template" */, m.line * 64 + t);
      const auto& templ = templates[w[0] % templates.size()];
      const double v = property_value(m.descriptors, tasks[t]);
      m.questions.push_back({tasks[t], property_instruction(templ, tasks[t]), property_answer(tasks[t], v), v});
    }
  }
  return set;
}

/// Everything about one molecule as a JSON object (the `molecules.jsonl` record).
inline nlohmann::ordered_json to_json(const DefaultMolecule& m) {
  const auto& d = m.descriptors;
  nlohmann::ordered_json groups = nlohmann::ordered_json::object();
  for (const auto& g : m.groups) groups[g.key] = g.count;
  nlohmann::ordered_json j = {
      {"id", m.id}, {"line", m.line}, {"smiles", m.smiles}, {"scaffold", m.scaffold}, {"split", name(m.split)},
      {"descriptors",
       {{"molecular_weight", d.molecular_weight}, {"exact_mass", d.exact_mass}, {"logp", d.logp}, {"tpsa", d.tpsa},
        {"hbond_donors", d.hbond_donors}, {"hbond_acceptors", d.hbond_acceptors},
        {"rotatable_bonds", d.rotatable_bonds}, {"rings", d.rings}, {"aromatic_rings", d.aromatic_rings},
        {"heavy_atoms", d.heavy_atoms}, {"formal_charge", d.formal_charge}, {"formula", d.formula}}},
      {"functional_groups", groups},
      {"description", m.description},
      {"derived", true}};
  return j;
}

/// Write the set as files (each atomically):
///   molecules.jsonl                       one to_json record per molecule
///   {train,valid,test}/property_qa.json   3D-MoIT instruction records (reference-model.md §6.1):
///                                         [{"instruction","input","output","task"}], input = the id
///   {train,valid,test}/captions.jsonl     {"id","smiles","description","derived":true}
///   failures.jsonl, summary.json          what could not be read, and the counts
inline void write_default_set(const DefaultSet& set, const std::filesystem::path& dir) {
  namespace fs = std::filesystem;
  const auto write = [](const fs::path& path, const std::string& text) {
    fs::create_directories(path.parent_path());
    io::AtomicFile out(path, "data");
    out.write(text.data(), text.size());
    out.commit();
  };
  const auto dump = [](const auto& j) { return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace); };
  std::string molecules;
  for (const auto& m : set.molecules) molecules += dump(to_json(m)) + "\n";
  write(dir / "molecules.jsonl", molecules);
  for (Split s : {Split::train, Split::valid, Split::test}) {
    nlohmann::ordered_json qa = nlohmann::ordered_json::array();
    std::string captions;
    for (const auto& m : set.molecules) {
      if (m.split != s) continue;
      for (const auto& q : m.questions)
        qa.push_back({{"instruction", q.instruction}, {"input", m.id}, {"output", q.answer}, {"task", q.task}});
      captions += dump(nlohmann::ordered_json{
                      {"id", m.id}, {"smiles", m.smiles}, {"description", m.description}, {"derived", true}}) +
                  "\n";
    }
    write(dir / name(s) / "property_qa.json", qa.dump(1) + "\n");
    write(dir / name(s) / "captions.jsonl", captions);
  }
  std::string failures;
  for (const auto& f : set.failures)
    failures += dump(nlohmann::ordered_json{{"line", f.line}, {"input", f.input}, {"error", f.error}}) + "\n";
  write(dir / "failures.jsonl", failures);
  const nlohmann::ordered_json summary = {
      {"source", set.source.string()},
      {"molecules", set.molecules.size()},
      {"failed", set.failures.size()},
      {"train", set.count(Split::train)},
      {"valid", set.count(Split::valid)},
      {"test", set.count(Split::test)},
      {"tasks", default_property_tasks()},
      {"derived", "descriptions and answers are generated by molm from RDKit values, not written by chemists"}};
  write(dir / "summary.json", summary.dump(2) + "\n");
}

}  // namespace molm::data
