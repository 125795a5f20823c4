// StateDict: named tensors in insertion order (PyTorch's OrderedDict of a state_dict), and the
// report that Module::load_state_dict writes about what did not fit.
//
// Names are the contract with real checkpoints (reference-model.md §9): they are the dotted
// PyTorch/HF names, so a checkpoint reader fills a StateDict and a module loads it by name.
#pragma once

#include "molm/core/dtype.hpp"
#include "molm/core/error.hpp"
#include "molm/core/shape.hpp"
#include "molm/tensor.hpp"

#include <fmt/format.h>

#include <cstddef>
#include <initializer_list>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace molm::nn {

/// Named tensors, iterated in insertion order, looked up by name. Names are unique.
class StateDict {
 public:
  using Entry = std::pair<std::string, Tensor>;

  StateDict() = default;
  StateDict(std::initializer_list<Entry> entries) {
    for (const auto& [name, t] : entries) insert(name, t);
  }

  /// Add a tensor; a name may appear only once.
  void insert(std::string name, Tensor t) {
    MOLM_CHECK(!index_.count(name), "state_dict", "duplicate tensor name '{}'", name);
    index_.emplace(name, entries_.size());
    entries_.emplace_back(std::move(name), std::move(t));
  }
  /// Replace the tensor under an existing name, or add it.
  void insert_or_assign(const std::string& name, Tensor t) {
    if (auto it = index_.find(name); it != index_.end()) entries_[it->second].second = std::move(t);
    else insert(name, std::move(t));
  }

  bool contains(const std::string& name) const { return index_.count(name) != 0; }
  /// The tensor under `name`, or nullptr.
  const Tensor* find(const std::string& name) const {
    auto it = index_.find(name);
    return it == index_.end() ? nullptr : &entries_[it->second].second;
  }
  const Tensor& at(const std::string& name) const {
    const Tensor* t = find(name);
    MOLM_CHECK(t, "state_dict", "no tensor named '{}' ({} tensors)", name, entries_.size());
    return *t;
  }

  std::size_t size() const { return entries_.size(); }
  bool empty() const { return entries_.empty(); }
  auto begin() const { return entries_.begin(); }
  auto end() const { return entries_.end(); }
  std::vector<std::string> keys() const {
    std::vector<std::string> k;
    k.reserve(entries_.size());
    for (const auto& e : entries_) k.push_back(e.first);
    return k;
  }

 private:
  std::vector<Entry> entries_;
  std::unordered_map<std::string, std::size_t> index_;
};

struct LoadOptions {
  /// Strict: any missing, unexpected or mis-shaped tensor throws, and nothing is copied.
  /// Non-strict: what matches is copied, the rest is skipped; the report is still printed.
  bool strict = true;
};

/// What load_state_dict found, by name. dtype conversions are not errors, but they are reported.
struct LoadReport {
  struct ShapeMismatch {
    std::string name;
    Shape expected;  ///< the module's shape
    Shape got;       ///< the state dict's shape
  };
  struct Conversion {
    std::string name;
    DType from;  ///< the state dict's dtype
    DType to;    ///< the module's dtype
  };
  std::vector<std::string> missing;     ///< in the module, not in the state dict
  std::vector<std::string> unexpected;  ///< in the state dict, not in the module
  std::vector<ShapeMismatch> shape_mismatched;
  std::vector<Conversion> converted;

  /// No missing, unexpected or mis-shaped tensors (conversions are fine).
  bool ok() const { return missing.empty() && unexpected.empty() && shape_mismatched.empty(); }
  bool empty() const { return ok() && converted.empty(); }

  /// One line per category, every name listed.
  std::string str() const {
    std::string s;
    auto line = [&](const char* what, std::size_t n, const std::string& items) {
      if (n) s += fmt::format("{}{} ({}): {}", s.empty() ? "" : "\n", what, n, items);
    };
    std::vector<std::string> mis, conv;
    for (const auto& m : shape_mismatched)
      mis.push_back(fmt::format("{} (model {}, state dict {})", m.name, m.expected.str(), m.got.str()));
    for (const auto& c : converted) conv.push_back(fmt::format("{} ({} -> {})", c.name, name(c.from), name(c.to)));
    line("missing", missing.size(), fmt::format("{}", fmt::join(missing, ", ")));
    line("unexpected", unexpected.size(), fmt::format("{}", fmt::join(unexpected, ", ")));
    line("shape mismatch", mis.size(), fmt::format("{}", fmt::join(mis, ", ")));
    line("dtype converted", conv.size(), fmt::format("{}", fmt::join(conv, ", ")));
    return s;
  }
};

}  // namespace molm::nn
