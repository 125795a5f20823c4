// Molecule files in: SMILES lists, SDF/MOL, MOL2, PDB, CSV/TSV tables, JSON Lines and XYZ, plain or
// gzip-compressed, one chem::Molecule per record.
//
//   chem::for_each_molecule("library.sdf", [&](chem::Molecule&& m) { ... });     // streams, bounded memory
//   auto mols = chem::read_molecules("table.csv", {.smiles_column = "SMILES"});  // or all at once
//
// A broken record (unparsable SMILES, truncated SDF record, short CSV row, bytes that are not UTF-8)
// becomes a Molecule with a status and an error naming the file and line, and reading goes on: one
// bad row must not cost the rest of a batch. Only problems with the whole file throw molm::error:
// it cannot be opened, its format is unknown, a table has no column with the SMILES, or its gzip
// stream is corrupt (the molecules before the damage have been visited by then).
// Formats, chosen by extension unless ReadOptions::format says:
//   .smi .smiles .ism .can  SMILES, whitespace, optional name; blank lines and '#' comments skipped;
//                           a first line whose first field is "smiles" is taken as a header
//   .sdf .sd .mol           every record of an SD file (a .mol file is one record without "$$$$");
//                           3D coordinates are kept, hydrogens stay as atoms, "> <TAG>" items read
//   .mol2                   every @<TRIPOS>MOLECULE record (Tripos); 3D coordinates kept, hydrogens
//                           stay as atoms as for SDF; the name is the line after @<TRIPOS>MOLECULE.
//                           RDKit's MOL2 reader wants explicit hydrogens and Tripos atom types
//   .pdb .ent               one molecule per MODEL, or the whole file when it has none; coordinates
//                           and hydrogens kept; name from HEADER / COMPND MOLECULE, else the file
//                           stem. PDB has no bond orders: bonds come from CONECT records and, where
//                           those are missing, from atom distances (RDKit's proximity bonding), so a
//                           ligand's double bonds and aromatic rings are lost. Prefer SDF for ligands.
//                           The file is read whole (its CONECT records follow the last model)
//   .csv .tsv .tab          a header row, then one molecule per row (CSV: RFC 4180 quoting; TSV: none);
//                           blank lines skipped
//   .jsonl .ndjson          one JSON object per line: a string field for the SMILES, other fields into
//                           Molecule::properties (strings as they are, other values as JSON text);
//                           blank lines skipped
//   .xyz                    every frame; bonds from ReadOptions::xyz_smiles or a smiles= comment field
//                           (see chem/xyz.hpp)
//   any of them + .gz       inflated while read (io/gzip_stream.hpp); the format is the extension
//                           before .gz. A file that starts with the gzip magic bytes is inflated
//                           whatever its name says.
// Molecule::record is the 1-based index of the record among the file's records.
#pragma once

#include "molm/chem/molecule.hpp"
#include "molm/chem/xyz.hpp"
#include "molm/core/error.hpp"
#include "molm/io/gzip_stream.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <istream>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace molm::chem {

struct ReadOptions {
  std::string format{};                  // "smi", "sdf", "mol2", "pdb", "csv", "tsv", "jsonl", "xyz";
                                         //   "" = from the file extension
  std::string smiles_column = "smiles";  // CSV/TSV/JSONL: the column (field) holding the SMILES, matched ignoring case
  std::string name_column{};             // CSV/TSV/JSONL: a column for Molecule::name ("" = none; JSONL:
                                         //   "name", else "id", when the object has one)
  std::string xyz_smiles{};              // XYZ: the SMILES giving the bonds of every frame ("" = from comments)
};

namespace detail {

inline std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

inline bool getline_no_cr(std::istream& in, std::string& line) {
  if (!std::getline(in, line)) return false;
  if (!line.empty() && line.back() == '\r') line.pop_back();
  return true;
}

/// Prefix a record's error with where it is, so a message read on its own still says which line.
inline Molecule located(Molecule m, const std::string& source, const std::string& file, std::size_t record,
                        const std::string& where) {
  m.source = source;
  m.file = escape_invalid_utf8(file);
  m.record = record;
  const std::string at = escape_invalid_utf8(where);
  if (!m.error.empty() && m.error.rfind(at, 0) != 0) m.error = at + ": " + m.error;
  return m;
}

/// A record whose bytes are not UTF-8 (a Latin-1 name, a binary file read as text) is reported as a
/// read error naming the first bad byte, rather than handed to RDKit.
inline bool not_utf8(std::string_view text, Molecule& m) {
  const std::size_t bad = first_invalid_utf8(text);
  if (bad == std::string_view::npos) return false;
  m.status = Status::read_error;
  m.input = escape_invalid_utf8(text);
  m.error = fmt::format("not valid UTF-8: byte 0x{:02X} at offset {}", static_cast<unsigned char>(text[bad]), bad);
  return true;
}

/// One CSV/TSV record. CSV follows RFC 4180 (quoted fields may hold delimiters, doubled quotes and
/// newlines); TSV (IANA) has no quoting, so a stray quote in a description cannot swallow the lines
/// after it. `line` counts physical lines read so far. Returns false at the end of the input.
inline bool read_table_record(std::istream& in, char delimiter, std::vector<std::string>& fields, std::size_t& line) {
  fields.clear();
  std::string text;
  if (!getline_no_cr(in, text)) return false;
  ++line;
  std::string field;
  bool quoted = false;
  for (std::size_t i = 0;; ++i) {
    if (i == text.size()) {
      if (quoted) {  // a quoted field goes on to the next line
        std::string more;
        if (!getline_no_cr(in, more)) break;  // unterminated quote at end of file: keep what there is
        ++line;
        field += '\n';
        text = std::move(more);
        i = std::size_t(-1);
        continue;
      }
      break;
    }
    const char c = text[i];
    if (quoted) {
      if (c == '"' && i + 1 < text.size() && text[i + 1] == '"') {
        field += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        field += c;
      }
    } else if (c == '"' && field.empty() && delimiter != '\t') {
      quoted = true;
    } else if (c == delimiter) {
      fields.push_back(std::move(field));
      field.clear();
    } else {
      field += c;
    }
  }
  fields.push_back(std::move(field));
  return true;
}

}  // namespace detail

/// The format ReadOptions::format would name for `path`, from its extension ("" when unknown).
/// "x.sdf.gz" names the format of what it holds: the extension before ".gz" counts.
inline std::string format_from_extension(const std::filesystem::path& path) {
  std::string ext = detail::lower(path.extension().string());
  if (ext == ".gz") ext = detail::lower(path.stem().extension().string());
  if (ext == ".smi" || ext == ".smiles" || ext == ".ism" || ext == ".can") return "smi";
  if (ext == ".sdf" || ext == ".sd" || ext == ".mol") return "sdf";
  if (ext == ".mol2") return "mol2";
  if (ext == ".pdb" || ext == ".ent") return "pdb";
  if (ext == ".csv") return "csv";
  if (ext == ".tsv" || ext == ".tab") return "tsv";
  if (ext == ".jsonl" || ext == ".ndjson") return "jsonl";
  if (ext == ".xyz") return "xyz";
  return "";
}

/// A SMILES list: "SMILES [name]" per line. `where` names the input in messages and Molecule::file.
template <class Visit>
void for_each_smiles_line(std::istream& in, const std::string& where, Visit&& visit) {
  std::string line;
  std::size_t line_no = 0, record = 0;
  bool first = true;
  while (detail::getline_no_cr(in, line)) {
    ++line_no;
    const std::string_view text = detail::trim(line);
    if (text.empty() || text.front() == '#') continue;
    const std::size_t split = text.find_first_of(" \t");
    const std::string_view smiles = text.substr(0, split);
    const std::string_view rest = split == std::string_view::npos ? std::string_view() : detail::trim(text.substr(split));
    if (first && detail::lower(smiles) == "smiles") {
      first = false;
      continue;
    }
    first = false;
    if (Molecule bad; detail::not_utf8(text, bad)) {
      visit(detail::located(std::move(bad), "smi", where, ++record, fmt::format("{} line {}", where, line_no)));
      continue;
    }
    visit(detail::located(parse_smiles(smiles, std::string(rest)), "smi", where, ++record,
                          fmt::format("{} line {}", where, line_no)));
  }
}

/// Every record of an SD file (or a single MOL file). `where` names the input in messages.
template <class Visit>
void for_each_sdf_record(std::istream& in, const std::string& where, Visit&& visit) {
  std::vector<std::string> lines;
  std::size_t line_no = 0, start_line = 1, record = 0;
  const auto flush = [&](bool terminated) {
    const bool blank = std::all_of(lines.begin(), lines.end(), [](const std::string& l) { return detail::trim(l).empty(); });
    if (blank && !terminated) return;  // trailing blank lines after the last "$$$$"
    ++record;
    const std::string at = fmt::format("{} record {} (line {})", where, record, start_line);
    std::size_t end = lines.size();
    for (std::size_t i = 0; i < lines.size(); ++i)
      if (lines[i].rfind("M  END", 0) == 0) {
        end = i;
        break;
      }
    Molecule m;
    if (blank) {
      m.status = Status::empty_input;
      m.error = "empty record";
    } else if (end == lines.size()) {
      m.status = Status::read_error;
      m.error = fmt::format("truncated record: no 'M  END' line in its {} line(s)", lines.size());
    } else {
      std::string block;
      for (std::size_t i = 0; i <= end; ++i) block += lines[i] + '\n';
      m = parse_molblock(block, at);
      // SD data items: "> <TAG>" (or ">  <TAG> (1)") then value lines up to a blank line.
      for (std::size_t i = end + 1; i < lines.size(); ++i) {
        if (lines[i].empty() || lines[i][0] != '>') continue;
        const std::size_t open = lines[i].find('<'), close = lines[i].find('>', open == std::string::npos ? 0 : open);
        if (open == std::string::npos || close == std::string::npos) continue;
        std::string value;
        std::size_t j = i + 1;
        for (; j < lines.size() && !lines[j].empty(); ++j) value += (value.empty() ? "" : "\n") + lines[j];
        m.properties[detail::escape_invalid_utf8(lines[i].substr(open + 1, close - open - 1))] =
            detail::escape_invalid_utf8(value);
        i = j;
      }
    }
    m.input = detail::escape_invalid_utf8(at);
    visit(detail::located(std::move(m), "sdf", where, record, at));
    lines.clear();
    start_line = line_no + 1;
  };
  std::string line;
  while (detail::getline_no_cr(in, line)) {
    ++line_no;
    if (line.rfind("$$$$", 0) == 0) {
      flush(true);
      continue;
    }
    lines.push_back(line);
  }
  flush(false);
}

/// A CSV or TSV table with a header row. Throws molm::error when the SMILES (or name) column is missing.
template <class Visit>
void for_each_table_row(std::istream& in, const std::string& where, char delimiter, const ReadOptions& options,
                        Visit&& visit) {
  std::vector<std::string> header, fields;
  std::size_t line = 0;
  MOLM_CHECK(detail::read_table_record(in, delimiter, header, line), "chem", "{}: empty file, expected a header row",
             where);
  if (!header.empty() && header[0].rfind("\xEF\xBB\xBF", 0) == 0) header[0].erase(0, 3);  // UTF-8 byte order mark
  const auto find_column = [&](const std::string& wanted) {
    for (std::size_t i = 0; i < header.size(); ++i)
      if (detail::lower(detail::trim(header[i])) == detail::lower(wanted)) return i;
    std::string names;
    for (const auto& h : header) names += (names.empty() ? "" : ", ") + detail::escape_invalid_utf8(h);
    MOLM_THROW("chem", "{}: no column named '{}' (the header has: {})", where, wanted, names);
  };
  const std::size_t smiles_col = find_column(options.smiles_column);
  const std::size_t name_col = options.name_column.empty() ? std::size_t(-1) : find_column(options.name_column);
  const std::string source = delimiter == '\t' ? "tsv" : "csv";
  std::size_t record = 0;
  while (true) {
    const std::size_t first_line = line + 1;
    if (!detail::read_table_record(in, delimiter, fields, line)) break;
    if (fields.size() == 1 && detail::trim(fields[0]).empty()) continue;  // blank line
    ++record;
    const std::string at = fmt::format("{} line {}", where, first_line);
    if (fields.size() <= smiles_col || (name_col != std::size_t(-1) && fields.size() <= name_col)) {
      Molecule m;
      m.status = Status::read_error;
      m.error = fmt::format("row has {} field(s), the header has {}", fields.size(), header.size());
      visit(detail::located(std::move(m), source, where, record, at));
      continue;
    }
    std::string joined;
    for (const auto& f : fields) joined += f + delimiter;
    if (Molecule bad; detail::not_utf8(joined, bad)) {
      bad.input = detail::escape_invalid_utf8(fields[smiles_col]);
      visit(detail::located(std::move(bad), source, where, record, at));
      continue;
    }
    std::string name = name_col == std::size_t(-1) ? std::string() : std::string(detail::trim(fields[name_col]));
    visit(detail::located(parse_smiles(fields[smiles_col], std::move(name)), source, where, record, at));
  }
}

namespace detail {

/// Shared by the MOL2 and PDB parsers: run RDKit's block parser, turn what it says into a Molecule.
/// `what` names the input in messages ("MOL2 record").
template <class Parse>
Molecule parse_structure_block(std::string_view block, const std::string& source, const std::string& where,
                               const char* what, Parse&& parse) {
  Molecule m;
  m.source = source;
  m.input = escape_invalid_utf8(where);
  if (trim(block).empty()) return failed(std::move(m), Status::empty_input, fmt::format("{}: empty {}", where, what));
  CaptureRdkitLogs logs;
  std::unique_ptr<RDKit::RWMol> mol;
  std::string exception_text;
  try {
    mol.reset(parse(std::string(block)));
  } catch (const std::exception& e) {  // FileParseException, MolSanitizeException, Invariant (unknown element)
    exception_text = e.what();
  }
  if (!mol)
    return failed(std::move(m), Status::invalid_input,
                  fmt::format("{}: {}", where, reason(logs, exception_text, "RDKit could not read it")));
  if (mol->getNumAtoms() == 0) return failed(std::move(m), Status::empty_input, where + ": no atoms");
  std::string title;
  if (mol->getPropIfPresent(RDKit::common_properties::_Name, title)) m.name = escape_invalid_utf8(trim(title));
  m.has_3d = has_real_3d(*mol);
  m.warnings = logs.lines();
  m.mol = std::move(mol);
  return m;
}

/// The value of `key` in a JSON object, matched ignoring case (an exact match wins), or null.
inline const nlohmann::json* json_field(const nlohmann::json& object, const std::string& key, std::string* found) {
  const nlohmann::json* hit = nullptr;
  for (auto it = object.begin(); it != object.end(); ++it) {
    if (it.key() == key) {
      *found = it.key();
      return &it.value();
    }
    if (!hit && lower(it.key()) == lower(key)) {
      hit = &it.value();
      *found = it.key();
    }
  }
  return hit;
}

}  // namespace detail

/// Parse one Tripos MOL2 record ("@<TRIPOS>MOLECULE" up to the next one). Hydrogens are kept as atoms
/// with their coordinates, as parse_molblock does. Never throws for bad input.
inline Molecule parse_mol2_block(std::string_view block, std::string where = "mol2 record") {
  return detail::parse_structure_block(block, "mol2", where, "MOL2 record", [](const std::string& text) {
    return RDKit::Mol2BlockToMol(text, /*sanitize=*/true, /*removeHs=*/false);
  });
}

/// Parse one PDB model (or a whole single-model PDB file). Bonds come from CONECT records and atom
/// distances, never with orders for ligands (see the file comment). `name` is used when the block has
/// no HEADER / COMPND MOLECULE. Never throws for bad input.
inline Molecule parse_pdb_block(std::string_view block, std::string where = "pdb block", std::string name = {}) {
  Molecule m = detail::parse_structure_block(block, "pdb", where, "PDB record", [](const std::string& text) {
    return RDKit::PDBBlockToMol(text, /*sanitize=*/true, /*removeHs=*/false, /*flavor=*/0, /*proximityBonding=*/true);
  });
  if (m.name.empty()) m.name = detail::escape_invalid_utf8(name);
  return m;
}

/// Every @<TRIPOS>MOLECULE record of a MOL2 file; lines before the first one (comments) are skipped.
template <class Visit>
void for_each_mol2_record(std::istream& in, const std::string& where, Visit&& visit) {
  std::string block, line;
  std::size_t line_no = 0, start_line = 0, record = 0;
  const auto flush = [&] {
    const std::string at = fmt::format("{} record {} (line {})", where, ++record, start_line);
    Molecule m;
    if (!detail::not_utf8(block, m)) m = parse_mol2_block(block, at);
    if (m.name.empty()) {  // a failed record still says which molecule it was
      const std::size_t begin = block.find('\n') + 1, end = block.find('\n', begin);
      m.name = detail::escape_invalid_utf8(detail::trim(std::string_view(block).substr(begin, end - begin)));
    }
    m.input = detail::escape_invalid_utf8(at);
    visit(detail::located(std::move(m), "mol2", where, record, at));
  };
  while (detail::getline_no_cr(in, line)) {
    ++line_no;
    if (detail::trim(line) == "@<TRIPOS>MOLECULE") {
      if (start_line) flush();
      block.clear();
      start_line = line_no;
    }
    if (start_line) block += line + '\n';
  }
  if (start_line) flush();
}

/// Every MODEL of a PDB file, or the whole file as one molecule when it has no MODEL records. The
/// lines before the first MODEL (HEADER, COMPND) and after the last ENDMDL (CONECT) belong to every
/// model. `name` is the name of molecules whose file has no HEADER / COMPND MOLECULE (the file stem).
template <class Visit>
void for_each_pdb_model(std::istream& in, const std::string& where, const std::string& name, Visit&& visit) {
  std::vector<std::string> lines;
  struct Model {
    std::size_t first, end;  // line indices of the model's records, [first, end)
    std::string serial;
  };
  std::vector<Model> models;
  std::size_t after_models = 0;  // first line after the last ENDMDL
  for (std::string line; detail::getline_no_cr(in, line);) {
    const std::string_view tag = std::string_view(line).substr(0, 6);
    if (tag.rfind("MODEL", 0) == 0 && (tag.size() == 5 || tag[5] == ' ')) {
      if (!models.empty() && models.back().end == 0) models.back().end = lines.size();  // no ENDMDL before it
      models.push_back({lines.size() + 1, 0, std::string(detail::trim(std::string_view(line).substr(5)))});
    } else if (tag.rfind("ENDMDL", 0) == 0 && !models.empty() && models.back().end == 0) {
      models.back().end = lines.size();
      after_models = lines.size() + 1;
    }
    lines.push_back(std::move(line));
  }
  if (!models.empty() && models.back().end == 0) {
    models.back().end = lines.size();
    after_models = lines.size();
  }
  const std::size_t header_end = models.empty() ? 0 : models.front().first - 1;
  if (models.empty()) {
    if (std::all_of(lines.begin(), lines.end(), [](const std::string& l) { return detail::trim(l).empty(); })) return;
    models.push_back({0, lines.size(), ""});
    after_models = lines.size();
  }
  std::size_t record = 0;
  for (const Model& model : models) {
    const std::size_t start_line = model.first == 0 ? 1 : model.first;  // 1-based line of MODEL (or line 1)
    const std::string at = fmt::format("{} record {} (line {})", where, ++record, start_line);
    std::string block;
    for (std::size_t i = 0; i < header_end; ++i) block += lines[i] + '\n';
    std::size_t short_atom_line = 0;  // RDKit reads a cut-off ATOM line as an atom at made-up coordinates
    for (std::size_t i = model.first; i < model.end; ++i) {
      if ((lines[i].rfind("ATOM  ", 0) == 0 || lines[i].rfind("HETATM", 0) == 0) && lines[i].size() < 54 &&
          !short_atom_line)
        short_atom_line = i + 1;
      block += lines[i] + '\n';
    }
    for (std::size_t i = after_models; i < lines.size(); ++i) block += lines[i] + '\n';
    Molecule m;
    if (short_atom_line) {
      m.status = Status::read_error;
      m.error = fmt::format("line {} is an ATOM/HETATM record cut short: no coordinates (fewer than 54 columns)",
                            short_atom_line);
    } else if (!detail::not_utf8(block, m)) {
      m = parse_pdb_block(block, at, name);
    }
    if (m.name.empty()) m.name = detail::escape_invalid_utf8(name);
    m.input = detail::escape_invalid_utf8(at);
    if (!model.serial.empty()) m.properties["model"] = detail::escape_invalid_utf8(model.serial);
    visit(detail::located(std::move(m), "pdb", where, record, at));
  }
}

/// JSON Lines: one object per line with a SMILES field (ReadOptions::smiles_column, matched ignoring
/// case) and optionally a name field (ReadOptions::name_column, else "name" or "id"). The other fields
/// go into Molecule::properties: strings as they are, numbers, booleans, arrays as JSON text.
template <class Visit>
void for_each_jsonl_line(std::istream& in, const std::string& where, const ReadOptions& options, Visit&& visit) {
  std::string line;
  std::size_t line_no = 0, record = 0;
  // Values nested deeper than this are refused: printing them back as JSON text recurses.
  static constexpr int kMaxDepth = 64;
  const auto depth_limit = [](int depth, nlohmann::json::parse_event_t, nlohmann::json&) {
    if (depth > kMaxDepth) throw std::length_error(fmt::format("nested deeper than {} levels", kMaxDepth));
    return true;
  };
  while (detail::getline_no_cr(in, line)) {
    ++line_no;
    const std::string_view text = detail::trim(line);
    if (text.empty()) continue;
    const std::string at = fmt::format("{} line {}", where, line_no);
    ++record;
    Molecule m;
    const auto bad = [&](std::string why) {
      m.status = Status::read_error;
      m.error = std::move(why);
      visit(detail::located(std::move(m), "jsonl", where, record, at));
    };
    if (detail::not_utf8(text, m)) {
      visit(detail::located(std::move(m), "jsonl", where, record, at));
      continue;
    }
    nlohmann::json object;
    try {
      object = nlohmann::json::parse(text.begin(), text.end(), depth_limit);
    } catch (const std::exception& e) {  // nlohmann's parse_error, or depth_limit's length_error
      std::string why = e.what();
      const std::size_t tag_end = why.find("] ");  // "[json.exception.parse_error.101] parse error at ..."
      if (why.rfind("[json.exception.", 0) == 0 && tag_end != std::string::npos) why.erase(0, tag_end + 2);
      bad("not valid JSON: " + why);
      continue;
    }
    if (!object.is_object()) {
      bad(fmt::format("a JSON {} where an object was expected", object.type_name()));
      continue;
    }
    std::string smiles_key, name_key;
    const nlohmann::json* smiles = detail::json_field(object, options.smiles_column, &smiles_key);
    if (!smiles) {
      std::string keys;
      for (auto it = object.begin(); it != object.end(); ++it) keys += (keys.empty() ? "" : ", ") + it.key();
      bad(fmt::format("no field '{}' (the object has: {})", options.smiles_column, keys));
      continue;
    }
    if (!smiles->is_string()) {
      bad(fmt::format("field '{}' is a {}, not a string", smiles_key, smiles->type_name()));
      continue;
    }
    const nlohmann::json* name = nullptr;
    if (!options.name_column.empty()) {
      name = detail::json_field(object, options.name_column, &name_key);
    } else {
      name = detail::json_field(object, "name", &name_key);
      if (!name) name = detail::json_field(object, "id", &name_key);
    }
    const auto text_of = [](const nlohmann::json& v) { return v.is_string() ? v.get<std::string>() : v.dump(); };
    const bool named = name && !name->is_null();
    m = parse_smiles(smiles->get_ref<const std::string&>(), named ? text_of(*name) : std::string());
    if (!name && !options.name_column.empty())
      m.warnings.push_back(fmt::format("no field '{}' for the name", options.name_column));
    for (auto it = object.begin(); it != object.end(); ++it)
      if (it.key() != smiles_key && (!name || it.key() != name_key)) m.properties[it.key()] = text_of(it.value());
    visit(detail::located(std::move(m), "jsonl", where, record, at));
  }
}

/// Every molecule in `path`, in file order, handed to `visit(Molecule&&)`. A gzip-compressed file
/// (by its magic bytes, or by its .gz name when it is a pipe) is inflated while it is read.
template <class Visit>
void for_each_molecule(const std::filesystem::path& path, Visit&& visit, const ReadOptions& options = {}) {
  constexpr const char* kFormats = "smi, sdf, mol2, pdb, csv, tsv, jsonl or xyz, optionally gzip-compressed (.gz)";
  const std::string format = options.format.empty() ? format_from_extension(path) : detail::lower(options.format);
  MOLM_CHECK(!format.empty(), "chem", "{}: cannot tell the format from the extension; set ReadOptions::format "
             "({})", path.string(), kFormats);
  const std::string where = path.string();
  std::ifstream plain(path, std::ios::binary);
  MOLM_CHECK(plain.good(), "chem", "{}: cannot open for reading", where);
  // Sniffing opens the file a second time, which would steal the first bytes of a pipe (/dev/stdin):
  // only regular files are sniffed, anything else is gzip when its name says so.
  const bool named_gz = detail::lower(path.extension().string()) == ".gz";
  std::error_code ec;
  const bool regular = std::filesystem::is_regular_file(path, ec);
  const bool gzip = regular ? io::is_gzip_file(path) : named_gz;
  MOLM_CHECK(gzip || !named_gz, "chem",
             "{}: named .gz but not gzip-compressed (it does not start with the bytes 1f 8b)", where);
  std::optional<io::GzipIstream> inflated;
  if (gzip) {
    plain.close();
    inflated.emplace(path, "chem");
  }
  std::istream& in = gzip ? static_cast<std::istream&>(*inflated) : plain;
  // The file stem names PDB molecules that have no HEADER / COMPND: "1abc" for 1abc.pdb and 1abc.pdb.gz.
  std::filesystem::path stem = path.filename();
  if (detail::lower(stem.extension().string()) == ".gz") stem = stem.stem();
  if (format == "smi") return for_each_smiles_line(in, where, visit);
  if (format == "sdf" || format == "mol") return for_each_sdf_record(in, where, visit);
  if (format == "mol2") return for_each_mol2_record(in, where, visit);
  if (format == "pdb" || format == "ent") return for_each_pdb_model(in, where, stem.stem().string(), visit);
  if (format == "csv") return for_each_table_row(in, where, ',', options, visit);
  if (format == "tsv") return for_each_table_row(in, where, '\t', options, visit);
  if (format == "jsonl" || format == "ndjson") return for_each_jsonl_line(in, where, options, visit);
  if (format == "xyz") return for_each_xyz_record(in, where, options.xyz_smiles, visit);
  MOLM_THROW("chem", "{}: unknown format '{}' (molm reads {})", where, format, kFormats);
}

/// All molecules in `path`, bad records included (check Molecule::ok()).
inline std::vector<Molecule> read_molecules(const std::filesystem::path& path, const ReadOptions& options = {}) {
  std::vector<Molecule> out;
  for_each_molecule(path, [&](Molecule&& m) { out.push_back(std::move(m)); }, options);
  return out;
}

}  // namespace molm::chem
