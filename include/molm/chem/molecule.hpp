// Molecules in: a SMILES, a mol block or an RDKit molecule becomes a chem::Molecule, or says why not.
//
//   auto aspirin = chem::from_smiles("CC(=O)Oc1ccccc1C(=O)O");   // throws molm::error if invalid
//   auto m = chem::parse_smiles(line);                           // never throws for bad input:
//   if (!m.ok()) log(m.error);                                   //   m.status, m.error say why
//   auto mine = chem::from_rdkit(my_romol);                      // an embedding program's molecule,
//                                                                //   its 3D conformer kept
// The parse_* functions are for batches: one bad record must not stop the rest, so they return the
// reason (RDKit's own message, captured from its logger) instead of throwing. The from_* functions
// are for a program handling one molecule, where an exception is the natural answer.
// Hydrogens stay as the input has them (implicit for SMILES, explicit atoms with coordinates in an
// SDF); embed() adds what ETKDG needs and removes them for Uni-Mol.
#pragma once

#include "molm/chem/provenance.hpp"
#include "molm/chem/rdkit_log.hpp"
#include "molm/core/error.hpp"

#include <GraphMol/FileParsers/FileParsers.h>
#include <GraphMol/MolOps.h>
#include <GraphMol/RWMol.h>
#include <GraphMol/SmilesParse/SmilesParse.h>
#include <GraphMol/SmilesParse/SmilesWrite.h>
#include <RDGeneral/FileParseException.h>

#include <fmt/format.h>

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace molm::chem {

/// One input molecule. `mol` is null exactly when `ok()` is false.
struct Molecule {
  std::shared_ptr<const RDKit::ROMol> mol;
  std::string input;        // the SMILES handed in, or "<file> record <n>" for a mol block
  std::string source;       // "smiles", "molblock", "romol", "smi", "sdf", "csv", "tsv",
                            //   "mol2", "pdb", "jsonl", "xyz"
  std::string file;         // the file it came from ("" when none)
  std::size_t record = 0;   // 1-based record / line / row number in that file (0 = none)
  std::string name;         // SDF title line, name column, SMILES-file name field
  bool has_3d = false;      // mol's first conformer holds the input's own 3D coordinates
  Status status = Status::ok;
  std::string error;                           // why not ok, with RDKit's message when it gave one
  std::vector<std::string> warnings;           // RDKit messages for a molecule that did parse
  std::map<std::string, std::string> properties;  // SD data items (> <TAG>) of an SDF record

  bool ok() const { return status == Status::ok && mol != nullptr; }
};

namespace detail {

inline std::string_view trim(std::string_view s) {
  const auto space = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v'; };
  while (!s.empty() && space(s.front())) s.remove_prefix(1);
  while (!s.empty() && space(s.back())) s.remove_suffix(1);
  return s;
}

// Takes an rvalue reference, not a value, so the message (often built from m.input) is formed
// before anything is moved out of m.
inline Molecule failed(Molecule&& m, Status status, const std::string& error) {
  Molecule out = std::move(m);
  out.mol.reset();
  out.status = status;
  out.error = escape_invalid_utf8(error);
  return out;
}

/// First RDKit message, else the exception text, else a fallback: the most specific reason there is.
inline std::string reason(const CaptureRdkitLogs& logs, const std::string& exception_text, const char* fallback) {
  std::string logged = logs.text();
  if (!logged.empty()) return logged;
  if (!exception_text.empty()) return exception_text;
  return fallback;
}

/// True when `mol`'s first conformer is 3D and not all at the origin (some writers fill zeros when they
/// have no coordinates; those must not pass for a structure).
inline bool has_real_3d(const RDKit::ROMol& mol) {
  if (mol.getNumConformers() == 0) return false;
  const RDKit::Conformer& conf = mol.getConformer();
  if (!conf.is3D()) return false;
  for (const auto& p : conf.getPositions())
    if (p.x != 0 || p.y != 0 || p.z != 0) return true;
  return false;
}

}  // namespace detail

/// RDKit's canonical isomeric SMILES of the heavy-atom graph (explicit hydrogens folded back in).
inline std::string canonical_smiles(const RDKit::ROMol& mol) {
  CaptureRdkitLogs quiet;
  try {
    std::unique_ptr<RDKit::ROMol> heavy(RDKit::MolOps::removeHs(mol));
    return RDKit::MolToSmiles(*heavy);
  } catch (const std::exception&) {
    return RDKit::MolToSmiles(mol);  // removeHs refuses some odd valences; the graph as given is still useful
  }
}

/// Parse one SMILES. Never throws for bad input: an empty, unparsable or unsanitizable SMILES comes
/// back with status empty_input / invalid_input and RDKit's reason in `error`.
inline Molecule parse_smiles(std::string_view smiles, std::string name = {}) {
  Molecule m;
  m.source = "smiles";
  m.name = detail::escape_invalid_utf8(name);
  const std::string_view text = detail::trim(smiles);
  m.input = detail::escape_invalid_utf8(text);
  if (text.empty()) return detail::failed(std::move(m), Status::empty_input, "empty SMILES");
  for (std::size_t i = 0; i < text.size(); ++i)
    if (static_cast<unsigned char>(text[i]) >= 0x80)  // SMILES is ASCII; RDKit's message would be less clear
      return detail::failed(std::move(m), Status::invalid_input,
                            fmt::format("SMILES '{}' has a non-ASCII byte 0x{:02X} at offset {}", m.input,
                                        static_cast<unsigned char>(text[i]), i));
  CaptureRdkitLogs logs;
  std::unique_ptr<RDKit::RWMol> mol;
  std::string exception_text;
  try {
    mol.reset(RDKit::SmilesToMol(std::string(text)));
  } catch (const std::exception& e) {  // MolSanitizeException (valence, kekulization), SmilesParseException
    exception_text = e.what();
  }
  if (!mol)
    return detail::failed(std::move(m), Status::invalid_input,
                          fmt::format("invalid SMILES '{}': {}", m.input,
                                      detail::reason(logs, exception_text, "RDKit could not parse it")));
  if (mol->getNumAtoms() == 0)
    return detail::failed(std::move(m), Status::empty_input, fmt::format("SMILES '{}' has no atoms", m.input));
  m.warnings = logs.lines();
  m.mol = std::move(mol);
  return m;
}

/// Parse one SMILES for a program that handles one molecule: throws molm::error if it is not valid.
inline Molecule from_smiles(std::string_view smiles) {
  Molecule m = parse_smiles(smiles);
  MOLM_CHECK(m.ok(), "chem", "{}", m.error);
  return m;
}

/// Parse one MDL mol block (V2000 or V3000; the text of an SDF record up to "M  END"). Hydrogens are
/// kept as atoms, so their coordinates survive. `where` names the record in messages. Never throws
/// for bad input.
inline Molecule parse_molblock(std::string_view block, std::string where = "mol block") {
  Molecule m;
  m.source = "molblock";
  m.input = detail::escape_invalid_utf8(where);
  if (detail::trim(block).empty()) return detail::failed(std::move(m), Status::empty_input, where + ": empty mol block");
  CaptureRdkitLogs logs;
  std::unique_ptr<RDKit::RWMol> mol;
  std::string exception_text;
  try {
    mol.reset(RDKit::MolBlockToMol(std::string(block), /*sanitize=*/true, /*removeHs=*/false));
  } catch (const std::exception& e) {  // FileParseException (bad counts, truncation), MolSanitizeException
    exception_text = e.what();
  }
  if (!mol)
    return detail::failed(std::move(m), Status::invalid_input,
                          fmt::format("{}: {}", where, detail::reason(logs, exception_text, "RDKit could not read the mol block")));
  if (mol->getNumAtoms() == 0) return detail::failed(std::move(m), Status::empty_input, where + ": no atoms");
  std::string title;
  if (mol->getPropIfPresent(RDKit::common_properties::_Name, title)) m.name = detail::escape_invalid_utf8(detail::trim(title));
  m.has_3d = detail::has_real_3d(*mol);
  if (!m.has_3d && mol->getNumConformers() && mol->getConformer().is3D())
    m.warnings.push_back("all input coordinates are zero: ignored, a conformer will be generated");
  for (auto& line : logs.lines()) m.warnings.push_back(std::move(line));
  m.mol = std::move(mol);
  return m;
}

/// Take an RDKit molecule from an embedding program (copied; the caller keeps its own). Its first
/// conformer is kept as the input's 3D structure when it is 3D and not all zeros. The molecule is
/// expected to be sanitized, as RDKit's parsers leave it; its ring information is computed if missing.
inline Molecule from_rdkit(const RDKit::ROMol& in, std::string name = {}) {
  Molecule m;
  m.source = "romol";
  m.input = "RDKit::ROMol";
  if (in.getNumAtoms() == 0) return detail::failed(std::move(m), Status::empty_input, "RDKit molecule has no atoms");
  auto mol = std::make_shared<RDKit::RWMol>(in);
  std::string title;
  if (name.empty() && mol->getPropIfPresent(RDKit::common_properties::_Name, title)) name = title;
  m.name = detail::escape_invalid_utf8(detail::trim(name));
  CaptureRdkitLogs logs;
  try {
    mol->updatePropertyCache(/*strict=*/false);
    if (!mol->getRingInfo()->isInitialized()) RDKit::MolOps::findSSSR(*mol);
  } catch (const std::exception& e) {
    return detail::failed(std::move(m), Status::invalid_input, fmt::format("RDKit molecule is not usable: {}", e.what()));
  }
  m.has_3d = detail::has_real_3d(*mol);
  m.warnings = logs.lines();
  m.mol = std::move(mol);
  return m;
}

}  // namespace molm::chem
