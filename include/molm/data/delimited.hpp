// Delimited text tables (TSV, CSV without quoting) with a header line, plain or gzip-compressed
// (zlib's gzread reads both), looked up by column name. The benchmark files molm reads are of this
// kind: ChEBI-20's TSV, the PubChem properties TSV.gz, QM9's CSV.gz (data/benchmarks.hpp).
//
//   data::DelimitedTable t = data::read_delimited("qm9.csv.gz", ',');
//   const std::size_t smiles = t.column("smiles");            // throws, listing the header, if absent
//   for (const auto& row : t.rows) use(row.fields[smiles], row.line);
//
// Errors name the file and the line: a row with the wrong number of fields, bytes that are not
// UTF-8, a file that is not gzip when it says .gz. Quoted CSV fields are not supported (none of
// these files quote); a '"' at the start of a field is reported rather than misread.
#pragma once

#include "molm/core/error.hpp"
#include "molm/io/safetensors_header.hpp"  // io::detail::is_valid_utf8, printable

#include <fmt/format.h>
#include <zlib.h>

#include <cstddef>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace molm::data {

struct DelimitedRow {
  std::size_t line = 0;  ///< 1-based line number in the file (the header is line 1)
  std::vector<std::string> fields;
};

struct DelimitedTable {
  std::filesystem::path path;
  std::vector<std::string> header;
  std::vector<DelimitedRow> rows;

  /// Index of the column named `name`; throws naming the file and its columns when absent.
  std::size_t column(std::string_view name) const {
    for (std::size_t i = 0; i < header.size(); ++i)
      if (header[i] == name) return i;
    MOLM_THROW("data", "{}: no column '{}' (columns: {})", path.string(), name, fmt::join(header, ", "));
  }
  bool has_column(std::string_view name) const {
    for (const auto& h : header)
      if (h == name) return true;
    return false;
  }
};

/// The whole file's bytes, inflating gzip transparently; `max_bytes` bounds what a bomb can cost.
inline std::string read_text_file(const std::filesystem::path& path, std::size_t max_bytes = std::size_t{4} << 30) {
  gzFile f = gzopen(path.c_str(), "rb");
  MOLM_CHECK(f, "data", "cannot open {}", path.string());
  std::string out;
  char buf[1 << 16];
  for (;;) {
    const int n = gzread(f, buf, sizeof buf);
    if (n < 0) {
      int errnum = 0;
      const std::string why = gzerror(f, &errnum);
      gzclose(f);
      MOLM_THROW("data", "{}: read failed after {} bytes: {}", path.string(), out.size(), why);
    }
    if (n == 0) break;
    out.append(buf, static_cast<std::size_t>(n));
    if (out.size() > max_bytes) {
      gzclose(f);
      MOLM_THROW("data", "{}: more than {} bytes of text", path.string(), max_bytes);
    }
  }
  gzclose(f);
  return out;
}

inline std::vector<std::string> split_fields(std::string_view line, char sep) {
  std::vector<std::string> out;
  std::size_t start = 0;
  for (;;) {
    const std::size_t end = line.find(sep, start);
    out.emplace_back(line.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start));
    if (end == std::string_view::npos) break;
    start = end + 1;
  }
  return out;
}

/// Read a table whose first line is the header. Empty lines are skipped; a trailing '\r' (CRLF
/// files) is dropped.
inline DelimitedTable read_delimited(const std::filesystem::path& path, char sep) {
  const std::string text = read_text_file(path);
  MOLM_CHECK(io::detail::is_valid_utf8(text), "data", "{} is not UTF-8 text", path.string());
  DelimitedTable t;
  t.path = path;
  std::size_t pos = 0, line_no = 0;
  while (pos < text.size()) {
    std::size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    std::string_view line(text.data() + pos, end - pos);
    pos = end + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) continue;
    std::vector<std::string> fields = split_fields(line, sep);
    for (const auto& f : fields)
      MOLM_CHECK(f.empty() || f[0] != '"', "data", "{}:{}: quoted fields are not supported ({})", path.string(),
                 line_no, io::detail::printable(f));
    if (t.header.empty()) {
      t.header = std::move(fields);
      continue;
    }
    MOLM_CHECK(fields.size() == t.header.size(), "data", "{}:{}: {} fields, the header has {}", path.string(), line_no,
               fields.size(), t.header.size());
    t.rows.push_back({line_no, std::move(fields)});
  }
  MOLM_CHECK(!t.header.empty(), "data", "{} is empty (no header line)", path.string());
  return t;
}

}  // namespace molm::data
