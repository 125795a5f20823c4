// metrics/property_qa.hpp against 3D-MoLM's read_generalist_results.py as transcribed by
// tests/golden/gen_property_qa.py (Python 3.11 `re` and float(), numpy means) on 252 crafted pairs:
//   - the first match of `-?\d+\.\d+` (and of molm's corrected pattern) in each of 383 strings:
//     the same text span and the same double (unicode digits, sci notation, overflow, "1.2.3", ...);
//   - per task n, valid count and MAE in both syntaxes, MAE bit for bit.
#include "support/testing.hpp"

#include <molm/metrics/property_qa.hpp>

#include <nlohmann/json.hpp>

#include <cmath>
#include <limits>

using namespace molm;
using namespace molm::metrics;
using json = nlohmann::ordered_json;  // keeps the generator's task order

namespace {

const json& fixture() {
  static const json j = json::parse(testing::read_file(testing::golden_dir() / "property_qa/property_qa.json"));
  return j;
}

double json_number(const json& v) {
  if (v.is_string()) return v.get<std::string>() == "inf" ? std::numeric_limits<double>::infinity()
                                                          : -std::numeric_limits<double>::infinity();
  return v.get<double>();
}

std::vector<PropertyItem> items() {
  std::vector<PropertyItem> out;
  for (const auto& row : fixture().at("items"))
    out.push_back({row.at(0).get<std::string>(), row.at(1).get<std::string>(), row.at(2).get<std::string>()});
  return out;
}

void check_first_match(NumberSyntax syntax, int column) {
  std::size_t found = 0;
  for (const auto& row : fixture().at("first_match")) {
    const std::string text = row.at(0).get<std::string>();
    const json& want = row.at(column);
    INFO("text: " << json(text).dump() << ", syntax " << column);
    const auto got = first_number(text, syntax);
    REQUIRE(got.has_value() == !want.is_null());
    if (!got) continue;
    ++found;
    const std::u32string s = utf8_decode(text);
    const std::u32string span = s.substr(got->begin, got->end - got->begin);
    CHECK(utf8_encode(span) == want.at(0).get<std::string>());
    const double expected = json_number(want.at(1));
    CHECK(std::signbit(got->value) == std::signbit(expected));
    CHECK((got->value == expected));
  }
  CHECK(found > 200);
}

void check_scores(NumberSyntax syntax, const char* name) {
  const json& want = fixture().at("scores").at(name);
  const auto got = property_qa_scores(items(), syntax);
  REQUIRE(got.size() == want.size());
  auto it = got.begin();
  for (const auto& entry : want.items()) {  // same tasks in the same order
    const std::string task = entry.key();
    const json& w = entry.value();
    INFO("task " << task << " (" << name << ")");
    REQUIRE(it->task == task);
    CHECK(it->n == w.at("n").get<std::size_t>());
    CHECK(it->valid == w.at("valid").get<std::size_t>());
    CHECK(it->valid_ratio() == w.at("valid_ratio").get<double>());
    if (w.at("mae").is_null()) {
      CHECK(std::isnan(it->mae));
    } else {
      CHECK(it->mae == w.at("mae").get<double>());  // bit for bit: same float() values, numpy's pairwise mean
    }
    CHECK(it->reference_task == reference_property_window(task).has_value());
    ++it;
  }
}

}  // namespace

TEST_CASE("property QA: the first match of -?\\d+\\.\\d+ equals Python's re.findall()[0] and float()") {
  check_first_match(NumberSyntax::reference, 1);
}

TEST_CASE("property QA: molm's corrected pattern equals Python's re on the same strings") {
  check_first_match(NumberSyntax::corrected, 2);
}

TEST_CASE("property QA: per-task valid counts and MAE equal read_generalist_results.py") {
  check_scores(NumberSyntax::reference, "reference");
}

TEST_CASE("property QA: corrected syntax scores equal the Python transcription") {
  check_scores(NumberSyntax::corrected, "corrected");
}

TEST_CASE("property QA: order, windows and errors") {
  // The reference's tasks come first in its order, then the others as they appear; text tasks are skipped.
  const std::vector<PropertyItem> in = {{"Ring Count", "2.00", "3.00"},
                                        {"Caption", "1.0", "2.0"},
                                        {"LogP", "-1.50", "The LogP is -1.25."},
                                        {"HOMO", "integer 5", "-5.000"}};
  const auto s = property_qa_scores(in);
  REQUIRE(s.size() == 3);
  CHECK(s[0].task == "HOMO");
  CHECK((s[0].n == 1 && s[0].valid == 0 && std::isnan(s[0].mae)));
  CHECK(s[1].task == "LogP");
  CHECK(s[1].mae == 0.25);
  CHECK(s[2].task == "Ring Count");
  CHECK(!s[2].reference_task);
  CHECK((s[2].window.low == 0 && s[2].window.low_inclusive && s[2].window.high == 1000));
  CHECK(s[2].mae == 1.0);
  // Corrected: the integer counts; SCF Energy is read whole and judged in eV.
  const auto c = property_qa_scores({{"HOMO", "integer -5", "-5.500"},
                                     {"SCF Energy", "-1.870e+05 eV", "-1.880e+05 eV"}},
                                    NumberSyntax::corrected);
  CHECK(c[0].mae == 0.5);
  CHECK(c[1].mae == 1000.0);
  CHECK(property_qa_scores({{"SCF Energy", "-1.870e+05 eV", "-1.880e+05 eV"}})[0].mae == 0.009999999999999787);
  // A valid prediction against a target without a number: the reference fails (IndexError), so does molm.
  CHECK(testing::error_of([] { property_qa_scores({{"LogP", "1.5", "no number"}}); }).find("holds no number") !=
        std::string::npos);
  // Windows: lower bound strict or not, upper bound always strict.
  CHECK(!reference_property_window("Molecular Weight")->contains(0.0));
  CHECK(reference_property_window("Complexity")->contains(0.0));
  CHECK(!reference_property_window("Complexity")->contains(10000.0));
  CHECK(!reference_property_window("Boiling Point"));
}

TEST_CASE("property QA: the hand-written scanner on the pattern's corner cases") {
  auto ref = [](std::string_view s) {
    const auto m = first_number(s);
    return m ? m->value : std::numeric_limits<double>::quiet_NaN();
  };
  CHECK(ref("1.2.3") == 1.2);
  CHECK(std::isnan(ref("-.5")));
  CHECK(std::isnan(ref("5.")));
  CHECK(std::isnan(ref("117")));
  CHECK(ref("--1.5") == -1.5);
  CHECK(ref("5.-3.25") == -3.25);
  CHECK(ref("\xE2\x88\x92" "2.5") == 2.5);                  // U+2212 is not '-'
  CHECK(ref("\xD9\xA3.\xD9\xA5") == 3.5);                    // Arabic-Indic ٣.٥
  CHECK(ref("-1.880e+05") == -1.88);                         // the mantissa only
  CHECK(first_number("-1.880e+05", NumberSyntax::corrected)->value == -188000.0);
  CHECK(first_number("117 g/mol", NumberSyntax::corrected)->value == 117.0);
  CHECK(first_number("1e", NumberSyntax::corrected)->value == 1.0);
  CHECK(std::isinf(first_number("1.5e400", NumberSyntax::corrected)->value));
}
