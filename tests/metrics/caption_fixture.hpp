// The caption-metric fixture of tests/golden/gen_caption_metrics.py (NLTK 3.8.1, rouge-score 0.1.2),
// read once by the metrics tests.
#pragma once

#include "support/testing.hpp"

#include <molm/metrics/python_str.hpp>
#include <nlohmann/json.hpp>

#include <fstream>
#include <map>
#include <string>
#include <vector>

namespace molm::testing {

struct CaptionSample {
  std::string kind, reference, hypothesis;
  std::map<std::string, double> value;  // by the fixture's column names ("meteor", "rouge1.f", ...)
};

struct CaptionFixture {
  std::vector<CaptionSample> samples;
  nlohmann::json json;
};

inline std::filesystem::path caption_fixture_dir() { return golden_dir() / "caption_metrics"; }

inline const CaptionFixture& caption_fixture() {
  static const CaptionFixture fixture = [] {
    CaptionFixture f;
    std::ifstream in(caption_fixture_dir() / "caption_metrics.json");
    REQUIRE(in.good());
    f.json = nlohmann::json::parse(in);
    const auto columns = f.json.at("columns").get<std::vector<std::string>>();
    for (const auto& row : f.json.at("samples")) {
      CaptionSample s{row.at(0).get<std::string>(), row.at(1).get<std::string>(), row.at(2).get<std::string>(), {}};
      for (std::size_t c = 0; c < columns.size(); ++c) s.value[columns[c]] = row.at(3 + c).get<double>();
      f.samples.push_back(std::move(s));
    }
    return f;
  }();
  return fixture;
}

/// The whitespace convention of the fixture: tokens = Python's str.split() of the raw string.
inline std::vector<std::string> ws_tokens(const std::string& s) { return metrics::python_split(s); }

}  // namespace molm::testing
