// ModuleList: children named "0", "1", ... in order, PyTorch's nn.ModuleList, so a stack of layers
// gets checkpoint names like "encoder.layers.3.fc1.weight".
#pragma once

#include "molm/nn/module.hpp"

#include <string>

namespace molm::nn {

class ModuleList : public Module {
 public:
  /// Append a module as child "<size()>"; returns it typed.
  template <class M> std::shared_ptr<M> push_back(std::shared_ptr<M> m) {
    register_module(std::to_string(items_.size()), m);
    items_.push_back(m);
    return m;
  }

  std::size_t size() const { return items_.size(); }
  bool empty() const { return items_.empty(); }
  const std::shared_ptr<Module>& operator[](std::size_t i) const {
    MOLM_CHECK(i < items_.size(), "ModuleList", "index {} out of range for a list of {}", i, items_.size());
    return items_[i];
  }
  /// Element i as an M; throws if it is of another type.
  template <class M> std::shared_ptr<M> get(std::size_t i) const {
    auto m = std::dynamic_pointer_cast<M>((*this)[i]);
    MOLM_CHECK(m, "ModuleList", "element {} is not of the requested module type", i);
    return m;
  }
  auto begin() const { return items_.begin(); }
  auto end() const { return items_.end(); }

 private:
  std::vector<std::shared_ptr<Module>> items_;
};

}  // namespace molm::nn
