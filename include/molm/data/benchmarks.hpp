// Readers for the benchmark tables 3D-MoLM is evaluated on, as they are published (formats in
// ../shared/data/README.md): ChEBI-20 captions, PubChem computed properties, QM9 quantum properties.
//
//   auto chebi = data::read_chebi20("chebi20/validation.txt");       // CID, SMILES, description
//   auto props = data::read_pubchem_properties("pubchem/properties-validation.tsv.gz");
//   auto qm9   = data::read_qm9("qm/qm9-sample-train.csv.gz");        // HOMO/LUMO/gap in eV
//
// Quirks handled here, once: ChEBI-20's published SMILES double every backslash (`\\` where
// PubChem writes `\`, a double-bond stereo mark) in 502 of the 3,301 validation rows — undone, and
// counted; QM9 stores orbital energies in Hartree while 3D-MoLM's questions ask in eV — converted
// with CODATA 2018's Hartree energy. Empty PubChem fields (no value computed) stay empty optionals.
#pragma once

#include "molm/data/delimited.hpp"

#include <charconv>
#include <cstdint>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

namespace molm::data {

inline constexpr double kHartreeToEv = 27.211386245988;  // CODATA 2018

struct Chebi20Row {
  std::int64_t cid = 0;
  std::string smiles;       ///< with ChEBI-20's doubled backslashes undone
  std::string description;  ///< "The molecule is ..."
  bool smiles_repaired = false;  ///< the published SMILES had doubled backslashes
};

struct PubchemProperties {
  std::int64_t cid = 0;
  std::string smiles;  ///< as in ChEBI-20 (doubled backslashes undone)
  std::string formula;
  std::optional<double> molecular_weight, xlogp3, tpsa, complexity;
  std::optional<std::int64_t> hbond_donor, hbond_acceptor, rotatable_bond, heavy_atom_count, charge;
  std::string pubchem_isomeric_smiles, iupac_name;
};

struct Qm9Row {
  std::string mol_id;  ///< gdb_<index>
  std::string smiles;
  double homo_ev = 0, lumo_ev = 0, gap_ev = 0;  ///< converted from Hartree
  double mu = 0, alpha = 0, zpve_hartree = 0;
};

namespace detail {

inline std::string where(const DelimitedTable& t, const DelimitedRow& r) {
  return fmt::format("{}:{}", t.path.string(), r.line);
}

/// The field in column `col` as a number of type T (the whole field, nothing else).
template <class T> T parse_number(const DelimitedTable& t, const DelimitedRow& r, std::size_t col) {
  const std::string& s = r.fields[col];
  T v{};
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  MOLM_CHECK(ec == std::errc() && end == s.data() + s.size() && !s.empty(), "data", "{}: column '{}' = '{}' is not {}",
             where(t, r), t.header[col], io::detail::printable(s),
             std::is_integral_v<T> ? "an integer" : "a number");
  return v;
}
/// As parse_number, but an empty field (no value given) is nullopt.
template <class T>
std::optional<T> parse_optional(const DelimitedTable& t, const DelimitedRow& r, std::size_t col) {
  if (r.fields[col].empty()) return std::nullopt;
  return parse_number<T>(t, r, col);
}

}  // namespace detail

/// ChEBI-20's `\\` → `\` (returns whether anything changed).
inline bool undo_doubled_backslashes(std::string& smiles) {
  std::string out;
  bool changed = false;
  for (std::size_t i = 0; i < smiles.size(); ++i) {
    out += smiles[i];
    if (smiles[i] == '\\' && i + 1 < smiles.size() && smiles[i + 1] == '\\') {
      ++i;
      changed = true;
    }
  }
  if (changed) smiles = std::move(out);
  return changed;
}

inline std::vector<Chebi20Row> read_chebi20(const std::filesystem::path& path) {
  const DelimitedTable t = read_delimited(path, '\t');
  const std::size_t cid = t.column("CID"), smiles = t.column("SMILES"), desc = t.column("description");
  std::vector<Chebi20Row> out;
  out.reserve(t.rows.size());
  for (const auto& r : t.rows) {
    Chebi20Row row;
    row.cid = detail::parse_number<std::int64_t>(t, r, cid);
    row.smiles = r.fields[smiles];
    row.smiles_repaired = undo_doubled_backslashes(row.smiles);
    row.description = r.fields[desc];
    out.push_back(std::move(row));
  }
  return out;
}

inline std::vector<PubchemProperties> read_pubchem_properties(const std::filesystem::path& path) {
  const DelimitedTable t = read_delimited(path, '\t');
  const auto c = [&](const char* n) { return t.column(n); };
  const std::size_t cid = c("cid"), smiles = c("smiles"), formula = c("molecular_formula"), mw = c("molecular_weight"),
                    logp = c("xlogp3"), tpsa = c("tpsa"), cx = c("complexity"), hbd = c("hbond_donor"),
                    hba = c("hbond_acceptor"), rot = c("rotatable_bond"), heavy = c("heavy_atom_count"),
                    charge = c("charge"), iso = c("pubchem_isomeric_smiles"), iupac = c("iupac_name");
  std::vector<PubchemProperties> out;
  out.reserve(t.rows.size());
  for (const auto& r : t.rows) {
    PubchemProperties p;
    p.cid = detail::parse_number<std::int64_t>(t, r, cid);
    p.smiles = r.fields[smiles];
    undo_doubled_backslashes(p.smiles);
    p.formula = r.fields[formula];
    p.molecular_weight = detail::parse_optional<double>(t, r, mw);
    p.xlogp3 = detail::parse_optional<double>(t, r, logp);
    p.tpsa = detail::parse_optional<double>(t, r, tpsa);
    p.complexity = detail::parse_optional<double>(t, r, cx);
    p.hbond_donor = detail::parse_optional<std::int64_t>(t, r, hbd);
    p.hbond_acceptor = detail::parse_optional<std::int64_t>(t, r, hba);
    p.rotatable_bond = detail::parse_optional<std::int64_t>(t, r, rot);
    p.heavy_atom_count = detail::parse_optional<std::int64_t>(t, r, heavy);
    p.charge = detail::parse_optional<std::int64_t>(t, r, charge);
    p.pubchem_isomeric_smiles = r.fields[iso];
    p.iupac_name = r.fields[iupac];
    out.push_back(std::move(p));
  }
  return out;
}

inline std::vector<Qm9Row> read_qm9(const std::filesystem::path& path) {
  const DelimitedTable t = read_delimited(path, ',');
  const std::size_t id = t.column("mol_id"), smiles = t.column("smiles"), homo = t.column("homo"),
                    lumo = t.column("lumo"), gap = t.column("gap"), mu = t.column("mu"), alpha = t.column("alpha"),
                    zpve = t.column("zpve");
  std::vector<Qm9Row> out;
  out.reserve(t.rows.size());
  for (const auto& r : t.rows) {
    Qm9Row q;
    q.mol_id = r.fields[id];
    q.smiles = r.fields[smiles];
    q.homo_ev = detail::parse_number<double>(t, r, homo) * kHartreeToEv;
    q.lumo_ev = detail::parse_number<double>(t, r, lumo) * kHartreeToEv;
    q.gap_ev = detail::parse_number<double>(t, r, gap) * kHartreeToEv;
    q.mu = detail::parse_number<double>(t, r, mu);
    q.alpha = detail::parse_number<double>(t, r, alpha);
    q.zpve_hartree = detail::parse_number<double>(t, r, zpve);
    out.push_back(std::move(q));
  }
  return out;
}

}  // namespace molm::data
