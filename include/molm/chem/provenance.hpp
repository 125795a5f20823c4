// Provenance: where every conformer came from, and why a molecule has none.
//
//   auto conf = chem::embed(chem::from_smiles("CCO"), {.seed = 42});
//   nlohmann::json line = conf.provenance;     // one JSONL record: input, method, seed, MMFF, time, error
//
// Uni-Mol's own tools fall back from 3D to 2D to all-zero coordinates without telling anyone
// (deepmodeling/Uni-Mol#300), and the 3D-MoLM notebook swallows MMFF errors. Here every molecule,
// good or bad, gets one record that says how its coordinates were made (user 3D, ETKDGv3, the
// random-coordinates retry, the 2D fallback that must be asked for) or why there are none, so a
// JSONL report can be filtered by status and nothing degrades silently.
#pragma once

#include "molm/core/utf8.hpp"

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

namespace molm::chem {

/// What became of one input molecule. Everything but `ok` comes with an error text.
enum class Status {
  ok,
  empty_input,    // an empty SMILES, an empty CSV cell, a record with no atoms
  invalid_input,  // RDKit could not parse or sanitize it (the message says why)
  read_error,     // the record itself is broken: truncated SDF record, short CSV row, bad bytes
  too_large,      // more atoms than the size policy allows
  embed_failed,   // every embedding attempt failed (and no 2D fallback was asked for)
  timed_out,      // the time budget ran out before an attempt succeeded
};

/// How the coordinates were made.
enum class ConformerMethod {
  none,           // no coordinates (status says why)
  user_3d,        // the input's own 3D conformer, kept as is
  etkdg_v3,       // ETKDGv3 from the molecular graph, seeded
  random_coords,  // ETKDGv3 again, started from random coordinates (after the first attempt failed)
  coords_2d,      // 2D depiction coordinates (z = 0): only with EmbedOptions::allow_2d
};

/// What MMFF94 did to the coordinates.
enum class MmffStatus {
  not_run,             // not asked for, user 3D kept as is, or no 3D coordinates to optimise
  converged,
  not_converged,       // stopped at the iteration limit; coordinates are usable but not at a minimum
  missing_parameters,  // MMFF cannot type some atom (B, most metals, radicals): ETKDG coordinates kept
  failed,              // setting up the force field threw; ETKDG coordinates kept
};

inline std::string_view name(Status s) {
  switch (s) {
    case Status::ok: return "ok";
    case Status::empty_input: return "empty_input";
    case Status::invalid_input: return "invalid_input";
    case Status::read_error: return "read_error";
    case Status::too_large: return "too_large";
    case Status::embed_failed: return "embed_failed";
    case Status::timed_out: return "timed_out";
  }
  return "?";
}

inline std::string_view name(ConformerMethod m) {
  switch (m) {
    case ConformerMethod::none: return "none";
    case ConformerMethod::user_3d: return "user_3d";
    case ConformerMethod::etkdg_v3: return "etkdg_v3";
    case ConformerMethod::random_coords: return "etkdg_v3_random_coords";
    case ConformerMethod::coords_2d: return "2d_fallback";
  }
  return "?";
}

inline std::string_view name(MmffStatus m) {
  switch (m) {
    case MmffStatus::not_run: return "not_run";
    case MmffStatus::converged: return "converged";
    case MmffStatus::not_converged: return "not_converged";
    case MmffStatus::missing_parameters: return "missing_parameters";
    case MmffStatus::failed: return "failed";
  }
  return "?";
}

/// One molecule's record. Strings are valid UTF-8 (bad input bytes are written as \xNN).
struct Provenance {
  std::string input;             // the SMILES handed in, or "<file> record <n>" for mol blocks
  std::string source;            // "smiles", "molblock", "romol", "smi", "sdf", "csv", "tsv"
  std::string file;              // the file it was read from ("" when not read from a file)
  std::size_t record = 0;        // 1-based record (SDF) or line/row (SMILES, CSV) number; 0 = none
  std::string name;              // title line, name column or SMILES-file name field
  std::string canonical_smiles;  // RDKit canonical isomeric SMILES of the heavy-atom graph

  Status status = Status::ok;
  ConformerMethod method = ConformerMethod::none;
  std::int64_t seed = -1;        // the ETKDG seed used (-1 when nothing was embedded)
  int attempts = 0;              // embedding attempts made (ETKDGv3, random-coords retry)
  unsigned max_iterations = 0;   // ETKDG iteration budget per attempt (0 = RDKit's 10 x atoms)
  MmffStatus mmff = MmffStatus::not_run;
  double mmff_energy = std::numeric_limits<double>::quiet_NaN();  // kcal/mol after optimisation

  std::size_t heavy_atoms = 0;   // in the input graph
  std::size_t fragments = 0;     // disconnected pieces (salts, counter-ions)
  std::size_t atoms = 0;         // atoms kept in the conformer (after hydrogen removal and crop)
  bool cropped = false;          // a seeded subset of max_atoms atoms was kept
  double wall_seconds = 0;

  std::string error;                  // why status is not ok
  std::vector<std::string> warnings;  // RDKit messages and notes (MMFF missing, 2D fallback, ...)

  bool ok() const { return status == Status::ok; }
};

namespace detail {

// The UTF-8 checks of the readers and the report, under the names they have always had here
// (core/utf8.hpp does the work).

/// Offset of the first byte that is not valid UTF-8, or npos.
inline std::size_t first_invalid_utf8(std::string_view text) { return utf8::first_invalid(text); }

/// `text` with every byte that is not valid UTF-8, and every control byte but tab and newline,
/// written as "\xNN", so it can go into JSON (nlohmann refuses invalid UTF-8) and into error
/// messages without garbling a terminal.
inline std::string escape_invalid_utf8(std::string_view text) { return utf8::escape(text); }

}  // namespace detail

/// JSON for the JSONL report (nlohmann ADL hook: `nlohmann::json j = provenance;`). A NaN energy is
/// written as null; strings are escaped again here in case a caller filled them by hand.
inline void to_json(nlohmann::json& j, const Provenance& p) {
  const auto s = [](const std::string& text) { return detail::escape_invalid_utf8(text); };
  j = nlohmann::json::object();
  j["input"] = s(p.input);
  j["source"] = p.source;
  if (!p.file.empty()) j["file"] = s(p.file);
  if (p.record) j["record"] = p.record;
  if (!p.name.empty()) j["name"] = s(p.name);
  j["canonical_smiles"] = s(p.canonical_smiles);
  j["status"] = std::string(name(p.status));
  j["method"] = std::string(name(p.method));
  j["seed"] = p.seed;
  j["attempts"] = p.attempts;
  j["max_iterations"] = p.max_iterations;
  j["mmff"] = {{"status", std::string(name(p.mmff))},
               {"energy", std::isfinite(p.mmff_energy) ? nlohmann::json(p.mmff_energy) : nlohmann::json()}};
  j["heavy_atoms"] = p.heavy_atoms;
  j["fragments"] = p.fragments;
  j["atoms"] = p.atoms;
  j["cropped"] = p.cropped;
  j["wall_seconds"] = p.wall_seconds;
  if (!p.error.empty()) j["error"] = s(p.error);
  if (!p.warnings.empty()) {
    auto& w = j["warnings"] = nlohmann::json::array();
    for (const auto& line : p.warnings) w.push_back(s(line));
  }
}

}  // namespace molm::chem
