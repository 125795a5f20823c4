// Molecule files in: SMILES lists, SDF/MOL and CSV/TSV tables, one chem::Molecule per record.
//
//   chem::for_each_molecule("library.sdf", [&](chem::Molecule&& m) { ... });     // streams, bounded memory
//   auto mols = chem::read_molecules("table.csv", {.smiles_column = "SMILES"});  // or all at once
//
// A broken record (unparsable SMILES, truncated SDF record, short CSV row, bytes that are not UTF-8)
// becomes a Molecule with a status and an error naming the file and line, and reading goes on: one
// bad row must not cost the rest of a batch. Only problems with the whole file throw molm::error:
// it cannot be opened, its format is unknown, or a table has no column with the SMILES.
// Formats, chosen by extension unless ReadOptions::format says:
//   .smi .smiles .ism .can  SMILES, whitespace, optional name; blank lines and '#' comments skipped;
//                           a first line whose first field is "smiles" is taken as a header
//   .sdf .sd .mol           every record of an SD file (a .mol file is one record without "$$$$");
//                           3D coordinates are kept, hydrogens stay as atoms, "> <TAG>" items read
//   .csv .tsv .tab          a header row, then one molecule per row (CSV: RFC 4180 quoting; TSV: none);
//                           blank lines skipped
//   .xyz                    every frame; bonds from ReadOptions::xyz_smiles or a smiles= comment field
//                           (see chem/xyz.hpp)
// Molecule::record is the 1-based index of the record among the file's records.
// Not here yet: MOL2, PDB, JSONL, compressed files.
#pragma once

#include "molm/chem/molecule.hpp"
#include "molm/chem/xyz.hpp"
#include "molm/core/error.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <istream>
#include <string>
#include <utility>
#include <vector>

namespace molm::chem {

struct ReadOptions {
  std::string format{};                  // "smi", "sdf", "csv", "tsv"; "" = from the file extension
  std::string smiles_column = "smiles";  // CSV/TSV: the header of the SMILES column, matched ignoring case
  std::string name_column{};             // CSV/TSV: a column for Molecule::name ("" = none)
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
inline std::string format_from_extension(const std::filesystem::path& path) {
  const std::string ext = detail::lower(path.extension().string());
  if (ext == ".smi" || ext == ".smiles" || ext == ".ism" || ext == ".can") return "smi";
  if (ext == ".sdf" || ext == ".sd" || ext == ".mol") return "sdf";
  if (ext == ".csv") return "csv";
  if (ext == ".tsv" || ext == ".tab") return "tsv";
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

/// Every molecule in `path`, in file order, handed to `visit(Molecule&&)`.
template <class Visit>
void for_each_molecule(const std::filesystem::path& path, Visit&& visit, const ReadOptions& options = {}) {
  const std::string format = options.format.empty() ? format_from_extension(path) : detail::lower(options.format);
  MOLM_CHECK(!format.empty(), "chem", "{}: cannot tell the format from the extension; set ReadOptions::format "
             "(smi, sdf, csv, tsv or xyz)", path.string());
  std::ifstream in(path, std::ios::binary);
  MOLM_CHECK(in.good(), "chem", "{}: cannot open for reading", path.string());
  const std::string where = path.string();
  if (format == "smi") return for_each_smiles_line(in, where, visit);
  if (format == "sdf" || format == "mol") return for_each_sdf_record(in, where, visit);
  if (format == "csv") return for_each_table_row(in, where, ',', options, visit);
  if (format == "tsv") return for_each_table_row(in, where, '\t', options, visit);
  if (format == "xyz") return for_each_xyz_record(in, where, options.xyz_smiles, visit);
  MOLM_THROW("chem", "{}: unknown format '{}' (molm reads smi, sdf, csv, tsv, xyz)", path.string(), format);
}

/// All molecules in `path`, bad records included (check Molecule::ok()).
inline std::vector<Molecule> read_molecules(const std::filesystem::path& path, const ReadOptions& options = {}) {
  std::vector<Molecule> out;
  for_each_molecule(path, [&](Molecule&& m) { out.push_back(std::move(m)); }, options);
  return out;
}

}  // namespace molm::chem
