// Datasets: an indexable collection of typed samples, the unit every training stage, evaluation
// and dataset plugin speaks.
//
//   struct MyPairs : data::Dataset<data::MoleculeText> {
//     std::size_t size() const override { return rows.size(); }
//     data::MoleculeText get(std::size_t i) const override { ... }
//   };
//   data::VectorDataset<data::MoleculeText> ds(std::move(samples));   // or keep them in memory
//   auto part = data::Subset(ds, {0, 5, 9});                             // a view on some rows
//
// Samples are values (copied out by get), so a dataset can build them on demand from an LMDB
// cache or a file offset, and `get` can run on several threads at once: implementations must be
// safe for concurrent `get` calls (the ones here are).
#pragma once

#include "molm/core/error.hpp"

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace molm::data {

/// Read-only, random-access samples of type `Sample`.
template <class Sample>
class Dataset {
 public:
  using sample_type = Sample;
  virtual ~Dataset() = default;
  virtual std::size_t size() const = 0;
  /// Sample `index` (0 ≤ index < size()); out of range is a molm::error, never UB.
  virtual Sample get(std::size_t index) const = 0;
  /// A short name for messages and reports ("default-nci/train", "chebi20/validation").
  virtual std::string name() const { return "dataset"; }
};

namespace detail {
inline void check_index(std::size_t index, std::size_t size, const std::string& name) {
  MOLM_CHECK(index < size, "data", "{}: index {} is out of range (size {})", name, index, size);
}
}  // namespace detail

/// Samples held in memory.
template <class Sample>
class VectorDataset final : public Dataset<Sample> {
 public:
  explicit VectorDataset(std::vector<Sample> samples, std::string name = "memory")
      : samples_(std::move(samples)), name_(std::move(name)) {}
  std::size_t size() const override { return samples_.size(); }
  Sample get(std::size_t index) const override {
    detail::check_index(index, samples_.size(), name_);
    return samples_[index];
  }
  std::string name() const override { return name_; }
  const std::vector<Sample>& samples() const { return samples_; }

 private:
  std::vector<Sample> samples_;
  std::string name_;
};

/// The rows `indices` of another dataset, in that order (a split, a filtered view). The parent
/// must outlive the subset.
template <class Sample>
class Subset final : public Dataset<Sample> {
 public:
  Subset(const Dataset<Sample>& parent, std::vector<std::size_t> indices, std::string name = {})
      : parent_(&parent), indices_(std::move(indices)), name_(name.empty() ? parent.name() + "/subset" : std::move(name)) {
    for (std::size_t i : indices_) detail::check_index(i, parent.size(), parent.name());
  }
  std::size_t size() const override { return indices_.size(); }
  Sample get(std::size_t index) const override {
    detail::check_index(index, indices_.size(), name_);
    return parent_->get(indices_[index]);
  }
  std::string name() const override { return name_; }
  const std::vector<std::size_t>& indices() const { return indices_; }

 private:
  const Dataset<Sample>* parent_;
  std::vector<std::size_t> indices_;
  std::string name_;
};

/// Several datasets one after the other (the reference's test set: the four sub-datasets
/// concatenated in order, §6.6). Index i maps to (part, row) by cumulative sizes.
template <class Sample>
class Concat final : public Dataset<Sample> {
 public:
  explicit Concat(std::vector<const Dataset<Sample>*> parts, std::string name = "concat")
      : parts_(std::move(parts)), name_(std::move(name)) {
    std::size_t total = 0;
    for (const auto* p : parts_) {
      MOLM_CHECK(p != nullptr, "data", "{}: a part is null", name_);
      total += p->size();
      ends_.push_back(total);
    }
  }
  std::size_t size() const override { return ends_.empty() ? 0 : ends_.back(); }
  Sample get(std::size_t index) const override {
    const auto [part, row] = locate(index);
    return parts_[part]->get(row);
  }
  std::string name() const override { return name_; }
  /// (part, row within the part) of a concatenated index.
  std::pair<std::size_t, std::size_t> locate(std::size_t index) const {
    detail::check_index(index, size(), name_);
    std::size_t part = 0;
    while (index >= ends_[part]) ++part;
    return {part, index - (part == 0 ? 0 : ends_[part - 1])};
  }

 private:
  std::vector<const Dataset<Sample>*> parts_;
  std::vector<std::size_t> ends_;
  std::string name_;
};

}  // namespace molm::data
