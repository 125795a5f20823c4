// Dropout as a module: active only while the module is in training mode (Module::train()).
//
// The mask comes from a Generator the caller owns and passes by reference at construction; the module
// keeps a pointer to it, so the generator must outlive the module. One generator per model keeps the
// whole random state in one place, which a checkpoint saves to make a resumed run bit-identical.
// Without a generator the module still works in eval mode and for p = 0, and throws if asked to drop.
#pragma once

#include "molm/nn/module.hpp"

namespace molm::nn {

class Dropout : public Module {
 public:
  explicit Dropout(double p, Generator* gen = nullptr) : p_(p), gen_(gen) {
    MOLM_CHECK(p >= 0.0 && p <= 1.0, "Dropout", "the drop probability must lie in [0, 1], got {}", p);
  }
  Dropout(double p, Generator& gen) : Dropout(p, &gen) {}

  Tensor forward(const Tensor& x) const {
    if (!is_training() || p_ == 0.0) return x;
    MOLM_CHECK(gen_, "Dropout", "training with p = {} needs a Generator (construct Dropout(p, gen)); input {}", p_,
               x.shape().str());
    return dropout(x, p_, true, *gen_);
  }
  double p() const { return p_; }

 private:
  double p_;
  Generator* gen_;
};

}  // namespace molm::nn
