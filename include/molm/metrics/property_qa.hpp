// Computed-property QA scores as 3D-MoLM's read_generalist_results.py computes them
// (reference-model.md §7.3): per task, the first match of the regular expression `-?\d+\.\d+` in
// the prediction and in the target, a validity window on the parsed prediction, valid ratio =
// valid / all items of the task, MAE = mean |prediction − target| over the valid items.
//
//   std::vector<PropertyItem> items = {{"LogP", "The LogP ... is 1.23.", "The LogP ... is 1.40."}};
//   for (const auto& s : property_qa_scores(items)) fmt::print("{} {} {}\n", s.task, s.mae, s.valid_ratio());
//
// The reference's quirks are kept on purpose: integers ("117") and a leading "-." are invalid, only
// the first number counts, and SCF Energy targets such as `-1.880e+05` are read as their mantissa
// `-1.880` (so SCF MAEs are mantissa errors, §11 item 10). NumberSyntax::corrected is molm's
// opt-in alternative, reported beside the reference numbers and never instead of them: integers and
// scientific notation are read whole (`-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?`) and SCF Energy is judged
// in eV.
//
// Matching follows Python's `re` on str: `\d` is any Unicode decimal digit (category Nd, e.g. "٣"
// or "３"), and `float()` reads such digits by their value; `-` and `.` are ASCII only (a Unicode
// minus "−5.2" reads as 5.2). The scanner below is the regex's leftmost-first search written out;
// tests/golden/gen_property_qa.py checks it against `re.findall` string by string.
//
// Tasks the reference does not know (molm's default set adds "Hydrogen Bond Donor Count",
// "Hydrogen Bond Acceptor Count", "Ring Count") get the window 0 <= x < 1000 and are flagged
// `reference_task = false`. "Description" and "Caption" items are text tasks (metrics/caption.hpp)
// and are skipped here.
#pragma once

#include "molm/core/error.hpp"
#include "molm/metrics/caption.hpp"  // numpy_mean
#include "molm/metrics/python_str.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace molm::metrics {

enum class NumberSyntax {
  reference,  ///< `-?\d+\.\d+`, first match (read_generalist_results.py)
  corrected,  ///< molm: `-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?`, first match; integers and 1.2e+05 read whole
};

namespace detail {

/// First code points of the 66 runs of ten Unicode decimal digits 0..9 (category Nd; Python
/// 3.11, Unicode 14.0: `[c for c in range(0x110000) if unicodedata.decimal(chr(c), -1) == 0]`).
/// Unicode guarantees Nd characters come in such contiguous, ascending runs.
inline constexpr std::array<char32_t, 66> kDecimalRunStarts = {
    0x30,    0x660,   0x6F0,   0x7C0,   0x966,   0x9E6,   0xA66,   0xAE6,   0xB66,   0xBE6,   0xC66,
    0xCE6,   0xD66,   0xDE6,   0xE50,   0xED0,   0xF20,   0x1040,  0x1090,  0x17E0,  0x1810,  0x1946,
    0x19D0,  0x1A80,  0x1A90,  0x1B50,  0x1BB0,  0x1C40,  0x1C50,  0xA620,  0xA8D0,  0xA900,  0xA9D0,
    0xA9F0,  0xAA50,  0xABF0,  0xFF10,  0x104A0, 0x10D30, 0x11066, 0x110F0, 0x11136, 0x111D0, 0x112F0,
    0x11450, 0x114D0, 0x11650, 0x116C0, 0x11730, 0x118E0, 0x11950, 0x11C50, 0x11D50, 0x11DA0, 0x16A60,
    0x16AC0, 0x16B50, 0x1D7CE, 0x1D7D8, 0x1D7E2, 0x1D7EC, 0x1D7F6, 0x1E140, 0x1E2F0, 0x1E950, 0x1FBF0};

/// The value 0..9 of a decimal digit (Python's `\d`), or -1.
inline int decimal_value(char32_t c) {
  if (c >= U'0' && c <= U'9') return static_cast<int>(c - U'0');
  const auto* it = std::upper_bound(kDecimalRunStarts.begin(), kDecimalRunStarts.end(), c);
  if (it == kDecimalRunStarts.begin()) return -1;
  const char32_t start = *(it - 1);
  return c - start < 10 ? static_cast<int>(c - start) : -1;
}

/// End of the run of decimal digits starting at i (== i when there is none).
inline std::size_t digits_end(std::u32string_view s, std::size_t i) {
  while (i < s.size() && decimal_value(s[i]) >= 0) ++i;
  return i;
}

/// The match of the pattern anchored at `i` ([i, end) in code points), or nullopt. Both patterns
/// start with `-?\d+`: the optional minus is tried first (greedy), and as `\d+` cannot start at a
/// '-', "with the minus" is the only way a match can begin at one. Backtracking into a digit run
/// never helps: what follows a shorter run is a digit, never the '.' or 'e' the rest needs.
inline std::optional<std::size_t> match_at(std::u32string_view s, std::size_t i, NumberSyntax syntax) {
  std::size_t p = i;
  if (p < s.size() && s[p] == U'-') ++p;
  const std::size_t int_end = digits_end(s, p);
  if (int_end == p) return std::nullopt;  // \d+
  if (syntax == NumberSyntax::reference) {
    if (int_end >= s.size() || s[int_end] != U'.') return std::nullopt;  // \.
    const std::size_t frac_end = digits_end(s, int_end + 1);
    if (frac_end == int_end + 1) return std::nullopt;  // \d+
    return frac_end;
  }
  std::size_t end = int_end;
  if (end < s.size() && s[end] == U'.') {  // (?:\.\d+)?, taken when it can be
    const std::size_t frac_end = digits_end(s, end + 1);
    if (frac_end > end + 1) end = frac_end;
  }
  if (end < s.size() && (s[end] == U'e' || s[end] == U'E')) {  // (?:[eE][-+]?\d+)?
    std::size_t q = end + 1;
    if (q < s.size() && (s[q] == U'-' || s[q] == U'+')) ++q;
    const std::size_t exp_end = digits_end(s, q);
    if (exp_end > q) end = exp_end;
  }
  return end;
}

/// Python's float() of a matched string: digits by their decimal value, then a correctly rounded
/// conversion (from_chars, as Python's dtoa; overflow gives ±inf, underflow ±0).
inline double python_float(std::u32string_view match) {
  std::string ascii;
  ascii.reserve(match.size());
  for (char32_t c : match) {
    const int d = decimal_value(c);
    ascii.push_back(d >= 0 ? static_cast<char>('0' + d) : static_cast<char>(c));  // '-', '.', 'e', '+'
  }
  double value = 0;
  const char* first = ascii.data();
  const char* last = ascii.data() + ascii.size();
  const auto [ptr, ec] = std::from_chars(first, last, value);
  MOLM_CHECK(ptr == last && (ec == std::errc() || ec == std::errc::result_out_of_range), "property_qa",
             "cannot read the number '{}'", ascii);
  if (ec == std::errc::result_out_of_range) value = std::strtod(ascii.c_str(), nullptr);  // ±HUGE_VAL or ±0
  return value;
}

}  // namespace detail

/// A number found in a text: its value and where it was (code point offsets).
struct FoundNumber {
  double value = 0;
  std::size_t begin = 0, end = 0;
};

/// The first (leftmost) match of the syntax's pattern in `text`, as `re.findall(...)[0]`, read as
/// Python's float() reads it; nullopt when there is none.
inline std::optional<FoundNumber> first_number(std::string_view text, NumberSyntax syntax = NumberSyntax::reference) {
  const std::u32string s = utf8_decode(text);
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != U'-' && detail::decimal_value(s[i]) < 0) continue;
    if (const auto end = detail::match_at(s, i, syntax))
      return FoundNumber{detail::python_float(std::u32string_view(s).substr(i, *end - i)), i, *end};
  }
  return std::nullopt;
}

/// The interval a parsed prediction must lie in to count as an answer.
struct PropertyWindow {
  double low = 0, high = 0;
  bool low_inclusive = false;  ///< `low <= x` instead of `low < x`; the upper bound is always strict
  bool contains(double x) const { return (low_inclusive ? low <= x : low < x) && x < high; }
};

/// The reference's window for `task`, or nullopt for a task read_generalist_results.py does not
/// score. With the corrected syntax SCF Energy is judged in eV (molm's choice: -1e7 < x < 0 eV,
/// wide enough for any molecule PubChemQC holds; the reference's -5 < x < 0 bounds a mantissa).
inline std::optional<PropertyWindow> reference_property_window(std::string_view task,
                                                               NumberSyntax syntax = NumberSyntax::reference) {
  if (task == "HOMO" || task == "LUMO" || task == "HOMO-LUMO Gap") return PropertyWindow{-20, 20, false};
  if (task == "SCF Energy")
    return syntax == NumberSyntax::reference ? PropertyWindow{-5, 0, false} : PropertyWindow{-1e7, 0, false};
  if (task == "LogP") return PropertyWindow{-30, 50, false};
  if (task == "Topological Polar Surface Area") return PropertyWindow{0, 2000, true};
  if (task == "Complexity") return PropertyWindow{0, 10000, true};
  if (task == "Molecular Weight") return PropertyWindow{0, 4000, false};
  return std::nullopt;
}

/// The reference's eight computed-property tasks, in the order it prints them.
inline const std::vector<std::string>& reference_property_tasks() {
  static const std::vector<std::string> tasks = {"HOMO", "LUMO", "HOMO-LUMO Gap", "SCF Energy", "Molecular Weight",
                                                 "LogP", "Topological Polar Surface Area", "Complexity"};
  return tasks;
}

/// molm's window for a task the reference does not know (its default set's integer-valued counts).
inline constexpr PropertyWindow kMolmPropertyWindow{0, 1000, true};

/// Text tasks, scored by caption metrics rather than MAE.
inline bool is_text_task(std::string_view task) { return task == "Description" || task == "Caption"; }

struct PropertyItem {
  std::string task, prediction, target;
};

struct PropertyTaskScore {
  std::string task;
  bool reference_task = true;  ///< false: a task the reference does not score, with molm's window
  PropertyWindow window;
  std::size_t n = 0;      ///< items of the task
  std::size_t valid = 0;  ///< items whose prediction parsed and lay in the window
  double mae = std::numeric_limits<double>::quiet_NaN();  ///< over the valid items; NaN if none (np.mean([]))
  double valid_ratio() const { return n ? static_cast<double>(valid) / static_cast<double>(n) : 0.0; }
};

/// Per-task scores of the non-text items: the reference's eight tasks first, in its order, then
/// the others in order of first appearance; tasks without items are left out (the reference would
/// divide by zero). A valid prediction whose target holds no number is an error, as it is in the
/// reference (an IndexError there).
inline std::vector<PropertyTaskScore> property_qa_scores(const std::vector<PropertyItem>& items,
                                                         NumberSyntax syntax = NumberSyntax::reference) {
  std::vector<std::string> order;
  for (const auto& name : reference_property_tasks())
    if (std::any_of(items.begin(), items.end(), [&](const PropertyItem& it) { return it.task == name; }))
      order.push_back(name);
  for (const auto& it : items)
    if (!is_text_task(it.task) && std::find(order.begin(), order.end(), it.task) == order.end())
      order.push_back(it.task);

  std::vector<PropertyTaskScore> scores;
  for (const auto& name : order) {
    PropertyTaskScore s;
    s.task = name;
    const auto window = reference_property_window(name, syntax);
    s.reference_task = window.has_value();
    s.window = window.value_or(kMolmPropertyWindow);
    std::vector<double> errors;
    for (std::size_t i = 0; i < items.size(); ++i) {
      const PropertyItem& it = items[i];
      if (it.task != name) continue;
      ++s.n;
      const auto predicted = first_number(it.prediction, syntax);
      if (!predicted || !s.window.contains(predicted->value)) continue;
      const auto target = first_number(it.target, syntax);
      MOLM_CHECK(target.has_value(), "property_qa", "item {} ({}): the target '{}' holds no number", i, name,
                 it.target);
      errors.push_back(std::abs(predicted->value - target->value));
    }
    s.valid = errors.size();
    if (!errors.empty()) s.mae = numpy_mean(errors);
    scores.push_back(std::move(s));
  }
  return scores;
}

}  // namespace molm::metrics
