// The caption-metric fixtures of tests/golden/gen_caption_metrics.py (NLTK 3.8.1, rouge-score 0.1.2),
// read once by the metrics tests:
//   - caption_fixture(): 60 hand-written pairs stored as text (caption_metrics.json; no shared data
//     needed, so CI runs the checks on it);
//   - chebi_caption_fixture(): 400 ChEBI-20 pairs stored without their text (chebi_pairs.json: row
//     numbers and edit recipes), rendered here from ../shared/data/chebi20/validation.txt with the
//     rules of the generator's render().
// Both give the same CaptionFixture, so the checks of caption_checks.hpp run on either.
#pragma once

#include "support/testing.hpp"

#include <molm/core/hash.hpp>
#include <molm/metrics/python_str.hpp>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <string>
#include <vector>

namespace molm::testing {

struct CaptionSample {
  std::string kind, reference, hypothesis;
  std::map<std::string, double> value;  // by the fixture's column names ("meteor", "rouge1.f", ...)
  std::string python_fnv1a64;           // ChEBI set: the generator's hash of its rendered hypothesis
};

struct CaptionFixture {
  std::string name;  // for messages: "hand-written" or "ChEBI-20"
  std::vector<CaptionSample> samples;
  nlohmann::json json;  // the whole file: "corpus" holds the corpus-level values
};

inline std::filesystem::path caption_fixture_dir() { return golden_dir() / "caption_metrics"; }

inline nlohmann::json read_caption_json(const std::string& file) {
  std::ifstream in(caption_fixture_dir() / file);
  REQUIRE(in.good());
  return nlohmann::json::parse(in);
}

/// Reads the value columns of a sample row, starting at row[first].
inline std::map<std::string, double> caption_values(const nlohmann::json& columns, const nlohmann::json& row,
                                                    std::size_t first) {
  std::map<std::string, double> v;
  for (std::size_t c = 0; c < columns.size(); ++c) v[columns[c].get<std::string>()] = row.at(first + c).get<double>();
  return v;
}

inline const CaptionFixture& caption_fixture() {
  static const CaptionFixture fixture = [] {
    CaptionFixture f{"hand-written", {}, read_caption_json("caption_metrics.json")};
    const auto& columns = f.json.at("columns");
    for (const auto& row : f.json.at("samples"))
      f.samples.push_back({row.at(0).get<std::string>(), row.at(1).get<std::string>(), row.at(2).get<std::string>(),
                           caption_values(columns, row, 3), {}});
    return f;
  }();
  return fixture;
}

/// The whitespace convention of the fixture: tokens = Python's str.split() of the raw string.
inline std::vector<std::string> ws_tokens(const std::string& s) { return metrics::python_split(s); }

/// FNV-1a 64 of the UTF-8 bytes, as 16 hex digits (the generator's fnv1a64()).
inline std::string fnv1a64_hex(std::string_view s) { return fmt::format("{:016x}", fnv1a64(s)); }

inline std::filesystem::path chebi_validation_path() { return shared_data_dir() / "chebi20/validation.txt"; }

/// Exits 77 (skip) when the ChEBI-20 validation file is absent: the repository never holds its text.
inline void require_chebi_validation_or_skip() {
  skip_unless_present({chebi_validation_path()});
}

/// The generator's read_descriptions(): the third tab field of each non-empty line after the header.
inline std::vector<std::string> read_chebi_descriptions() {
  std::ifstream in(chebi_validation_path());
  REQUIRE(in.good());
  std::vector<std::string> out;
  std::string line;
  std::getline(in, line);  // header
  for (std::size_t n = 2; std::getline(in, line); ++n) {
    if (line.empty()) continue;
    const auto a = line.find('\t'), b = a == std::string::npos ? a : line.find('\t', a + 1);
    INFO(chebi_validation_path().string() << " line " << n << " has fewer than three tab-separated fields");
    REQUIRE(b != std::string::npos);
    out.push_back(line.substr(b + 1, line.find('\t', b + 1) - (b + 1)));
  }
  return out;
}

/// The generator's render(): the text of a hypothesis recipe over the reference's str.split() words
/// and the description list (see tests/golden/gen_caption_metrics.py for the recipe forms).
inline std::string render_caption_recipe(const nlohmann::json& recipe, const std::vector<std::string>& words,
                                         const std::vector<std::string>& rows) {
  INFO("recipe " << recipe.dump());
  if (recipe.contains("row")) {
    const std::string& text = rows.at(recipe.at("row").get<std::size_t>());
    return (recipe.value("lower", false) ? metrics::python_lower(text) : text) + recipe.value("end", std::string());
  }
  std::string out;
  const auto sep = recipe.at("sep").get<std::string>();
  bool first = true;
  for (const auto& item : recipe.at("words")) {
    if (!first) out += sep;
    first = false;
    if (item.is_number_integer()) {
      out += words.at(item.get<std::size_t>());
    } else if (item.is_string()) {
      out += item.get<std::string>();
    } else if (item.at(0) == "upper") {
      for (const char c : words.at(item.at(1).get<std::size_t>())) {
        REQUIRE(static_cast<unsigned char>(c) < 0x80);  // the generator upper-cases pure-ASCII words only
        out += c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c;
      }
    } else {
      REQUIRE(item.at(0) == "inflect");
      const std::string& w = words.at(item.at(1).get<std::size_t>());
      const auto drop = item.at(2).get<std::size_t>();
      REQUIRE(drop <= 1);
      REQUIRE(drop <= w.size());
      REQUIRE((drop == 0 || static_cast<unsigned char>(w.back()) < 0x80));  // one byte = one character
      out += w.substr(0, w.size() - drop) + item.at(3).get<std::string>();
    }
  }
  return out;
}

/// The ChEBI-20 pairs, rendered from the shared validation descriptions; skips (77) without them.
inline const CaptionFixture& chebi_caption_fixture() {
  require_chebi_validation_or_skip();
  static const CaptionFixture fixture = [] {
    CaptionFixture f{"ChEBI-20", {}, read_caption_json("chebi_pairs.json")};
    const auto rows = read_chebi_descriptions();
    // The rows must index the list the generator indexed: same count, same text.
    std::string all;
    for (std::size_t r = 0; r < rows.size(); ++r) all += (r ? "\n" : "") + rows[r];
    const auto& want = f.json.at("descriptions");
    INFO(chebi_validation_path().string() << ": not the description list the fixture was generated from");
    REQUIRE(rows.size() == want.at("count").get<std::size_t>());
    REQUIRE(fnv1a64_hex(all) == want.at("fnv1a64").get<std::string>());

    const auto& columns = f.json.at("columns");
    for (const auto& row : f.json.at("samples")) {
      const std::string& reference = rows.at(row.at(1).at("row").get<std::size_t>());
      f.samples.push_back({row.at(0).get<std::string>(), reference,
                           render_caption_recipe(row.at(2), metrics::python_split(reference), rows),
                           caption_values(columns, row, 4), row.at(3).get<std::string>()});
    }
    return f;
  }();
  return fixture;
}

}  // namespace molm::testing
