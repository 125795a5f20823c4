// XYZ in: coordinates from the XYZ file, bonds from a SMILES of the same molecule.
//
//   auto m = chem::parse_xyz(text, "CCO");                     // SMILES given by the caller
//   auto m = chem::parse_xyz("3\nsmiles=CCO\nC ...\n...");     // or a smiles= field on the comment line
//
// An XYZ file has elements and coordinates but no bonds, and Uni-Mol's prompt in 3D-MoLM also wants
// the SMILES. RDKit 2022.09 (Debian 12) has no DetermineBonds, so bond orders cannot be inferred here:
// without a SMILES the record is an error that says so. With one, the atoms are matched: bonds are
// perceived from the coordinates (distance below the sum of covalent radii + 0.45 Å), the SMILES graph
// (with hydrogens if the XYZ has them) is matched onto that by element and connectivity, and each
// SMILES atom gets its XYZ coordinates. An XYZ whose geometry does not fit the SMILES is an error.
// Multi-frame files: each frame is one record (for_each_xyz_record).
#pragma once

#include "molm/chem/molecule.hpp"
#include "molm/chem/rdkit_log.hpp"

#include <GraphMol/Conformer.h>
#include <GraphMol/PeriodicTable.h>
#include <GraphMol/QueryAtom.h>
#include <GraphMol/QueryBond.h>
#include <GraphMol/QueryOps.h>
#include <GraphMol/Substruct/SubstructMatch.h>

#include <fmt/format.h>

#include <cctype>
#include <charconv>
#include <cmath>
#include <istream>
#include <string>
#include <vector>

namespace molm::chem {

namespace detail {

struct XyzAtom {
  int atomic_number;
  double x, y, z;
};

/// "smiles=CCO" (or "SMILES: CCO") on an XYZ comment line, else "".
inline std::string smiles_from_xyz_comment(std::string_view comment) {
  const std::string low = [&] {
    std::string s(comment);
    for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
  }();
  for (const char* key : {"smiles=", "smiles:"}) {
    const std::size_t at = low.find(key);
    if (at == std::string::npos) continue;
    std::string_view rest = trim(comment.substr(at + std::string_view(key).size()));
    return std::string(rest.substr(0, rest.find_first_of(" \t")));
  }
  return {};
}

inline int xyz_atomic_number(std::string_view token) {
  int z = 0;
  if (!token.empty() && std::isdigit(static_cast<unsigned char>(token[0]))) {
    const auto [end, ec] = std::from_chars(token.data(), token.data() + token.size(), z);
    return ec == std::errc() && end == token.data() + token.size() ? z : -1;
  }
  std::string symbol(token);  // "CL", "cl" -> "Cl"
  for (std::size_t i = 0; i < symbol.size(); ++i)
    symbol[i] = static_cast<char>(i == 0 ? std::toupper(static_cast<unsigned char>(symbol[i]))
                                         : std::tolower(static_cast<unsigned char>(symbol[i])));
  try {
    CaptureRdkitLogs quiet;  // RDKit logs a "Post-condition Violation" before throwing for an unknown symbol
    return RDKit::PeriodicTable::getTable()->getAtomicNumber(symbol);
  } catch (const std::exception&) {
    return -1;
  }
}

}  // namespace detail

/// Parse one XYZ frame: atom count, comment, then "Element x y z" lines (Å). Bonds come from
/// `smiles`, or from a "smiles=" field on the comment line. Never throws for bad input.
inline Molecule parse_xyz(std::string_view block, std::string smiles = {}, std::string where = "xyz") {
  Molecule m;
  m.source = "xyz";
  m.input = detail::escape_invalid_utf8(where);
  const auto fail = [&](Status status, const std::string& why) {
    return detail::failed(std::move(m), status, where + ": " + why);
  };
  std::vector<std::string_view> lines;
  for (std::size_t start = 0; start <= block.size();) {
    std::size_t end = block.find('\n', start);
    if (end == std::string_view::npos) end = block.size();
    std::string_view line = block.substr(start, end - start);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    lines.push_back(line);
    start = end + 1;
  }
  while (!lines.empty() && detail::trim(lines.back()).empty()) lines.pop_back();
  if (lines.empty()) return fail(Status::empty_input, "empty XYZ record");
  std::size_t count = 0;
  {
    const std::string_view first = detail::trim(lines[0]);
    const auto [end, ec] = std::from_chars(first.data(), first.data() + first.size(), count);
    if (ec != std::errc() || end != first.data() + first.size() || count == 0)
      return fail(Status::read_error, fmt::format("the first line must be the atom count, not '{}'",
                                                  detail::escape_invalid_utf8(first)));
  }
  if (lines.size() < count + 2)
    return fail(Status::read_error, fmt::format("truncated: {} atoms announced, {} atom line(s) present", count,
                                                lines.size() < 2 ? 0 : lines.size() - 2));
  const std::string_view comment = lines[1];
  m.name = detail::escape_invalid_utf8(detail::trim(comment));
  if (smiles.empty()) smiles = detail::smiles_from_xyz_comment(comment);
  if (smiles.empty())
    return fail(Status::invalid_input,
                "XYZ has no bonds and no SMILES was given (pass one, or put smiles=<SMILES> on the comment line); "
                "RDKit 2022.09 cannot determine bond orders from coordinates");

  std::vector<detail::XyzAtom> atoms;
  for (std::size_t i = 0; i < count; ++i) {
    const std::string_view line = detail::trim(lines[i + 2]);
    std::vector<std::string_view> fields;
    for (std::size_t s = 0; s < line.size();) {
      const std::size_t e = std::min(line.find_first_of(" \t", s), line.size());
      if (e > s) fields.push_back(line.substr(s, e - s));
      s = e + 1;
    }
    detail::XyzAtom a{};
    a.atomic_number = fields.empty() ? -1 : detail::xyz_atomic_number(fields[0]);
    bool ok = fields.size() >= 4 && a.atomic_number > 0;
    double* xyz[3] = {&a.x, &a.y, &a.z};
    for (int k = 0; ok && k < 3; ++k) {
      try {
        std::size_t used = 0;
        *xyz[k] = std::stod(std::string(fields[k + 1]), &used);
        ok = used == fields[k + 1].size() && std::isfinite(*xyz[k]);
      } catch (const std::exception&) {
        ok = false;
      }
    }
    if (!ok)
      return fail(Status::read_error, fmt::format("line {} is not 'Element x y z': '{}'", i + 3,
                                                  detail::escape_invalid_utf8(line)));
    atoms.push_back(a);
  }

  Molecule graph = parse_smiles(smiles);
  if (!graph.ok()) return fail(graph.status, "the SMILES for its bonds: " + graph.error);
  auto mol = std::make_shared<RDKit::RWMol>(*graph.mol);
  if (count != mol->getNumAtoms()) RDKit::MolOps::addHs(*mol);  // the XYZ lists hydrogens
  if (count != mol->getNumAtoms())
    return fail(Status::invalid_input, fmt::format("{} atoms in the XYZ, {} in SMILES '{}' ({} with hydrogens)", count,
                                                   graph.mol->getNumAtoms(), graph.input, mol->getNumAtoms()));

  // Bonds from distances: one atom per XYZ line, single bonds where atoms are closer than their
  // covalent radii allow. The SMILES graph, with any-order bonds and element-only atoms, must map onto it.
  RDKit::RWMol frame;
  const RDKit::PeriodicTable* table = RDKit::PeriodicTable::getTable();
  for (const auto& a : atoms) {
    auto* atom = new RDKit::Atom(a.atomic_number);
    atom->setNoImplicit(true);
    frame.addAtom(atom, /*updateLabel=*/false, /*takeOwnership=*/true);
  }
  for (unsigned i = 0; i < count; ++i)
    for (unsigned j = i + 1; j < count; ++j) {
      const double dx = atoms[i].x - atoms[j].x, dy = atoms[i].y - atoms[j].y, dz = atoms[i].z - atoms[j].z;
      const double limit = table->getRcovalent(atoms[i].atomic_number) + table->getRcovalent(atoms[j].atomic_number) + 0.45;
      if (dx * dx + dy * dy + dz * dz < limit * limit) frame.addBond(i, j, RDKit::Bond::SINGLE);
    }
  RDKit::MolOps::fastFindRings(frame);
  RDKit::RWMol query(*mol);
  for (unsigned i = 0; i < query.getNumAtoms(); ++i) {
    RDKit::QueryAtom qa(query.getAtomWithIdx(i)->getAtomicNum());
    query.replaceAtom(i, &qa);
  }
  for (unsigned i = 0; i < query.getNumBonds(); ++i) {
    RDKit::QueryBond qb(*query.getBondWithIdx(i));
    qb.setQuery(RDKit::makeBondNullQuery());
    query.replaceBond(i, &qb);
  }
  RDKit::MatchVectType match;
  {
    CaptureRdkitLogs quiet;
    RDKit::SubstructMatch(frame, static_cast<const RDKit::ROMol&>(query), match);
  }
  if (match.size() != count)
    return fail(Status::invalid_input,
                fmt::format("the XYZ geometry does not fit SMILES '{}' (bonds perceived from distances differ)",
                            graph.input));
  auto* conf = new RDKit::Conformer(count);
  for (const auto& [q, f] : match) conf->setAtomPos(q, RDGeom::Point3D(atoms[f].x, atoms[f].y, atoms[f].z));
  conf->set3D(true);
  mol->clearConformers();
  mol->addConformer(conf, /*assignId=*/true);
  m.has_3d = detail::has_real_3d(*mol);
  m.warnings = graph.warnings;
  m.mol = std::move(mol);
  return m;
}

/// Every frame of an XYZ file; `smiles` (if not empty) gives the bonds of all frames, else each
/// frame's comment line must carry smiles=.
template <class Visit>
void for_each_xyz_record(std::istream& in, const std::string& where, const std::string& smiles, Visit&& visit) {
  std::string line;
  std::size_t line_no = 0, record = 0;
  while (std::getline(in, line)) {
    ++line_no;
    if (detail::trim(line).empty()) continue;
    const std::size_t start = line_no;
    std::string block = line + '\n';
    std::size_t count = 0;
    const std::string_view first = detail::trim(line);
    std::from_chars(first.data(), first.data() + first.size(), count);
    for (std::size_t k = 0; k < count + 1 && std::getline(in, line); ++k) {
      ++line_no;
      block += line + '\n';
    }
    const std::string at = fmt::format("{} record {} (line {})", where, ++record, start);
    Molecule m = parse_xyz(block, smiles, at);
    m.file = detail::escape_invalid_utf8(where);
    m.record = record;
    visit(std::move(m));
    if (count == 0) break;  // not an XYZ count line: the rest cannot be framed
  }
}

}  // namespace molm::chem
