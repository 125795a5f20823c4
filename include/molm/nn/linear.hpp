// Linear: y = x·Wᵀ + b, PyTorch's nn.Linear. Parameters "weight" [out, in] and "bias" [out] (absent
// when bias = false, as HF Llama's projections are).
//
// Initialisation follows PyTorch: kaiming_uniform_(a = sqrt(5)) on the weight reduces to
// U(-1/sqrt(in), 1/sqrt(in)), and the bias uses the same bound. The values come from a molm
// Generator, so they are reproducible but not PyTorch's numbers; checkpoints overwrite them anyway.
#pragma once

#include "molm/nn/module.hpp"

#include <cmath>

namespace molm::nn {

class Linear : public Module {
 public:
  Linear(std::int64_t in_features, std::int64_t out_features, Generator& gen, bool bias = true,
         DType dtype = DType::f32)
      : in_features_(in_features), out_features_(out_features) {
    MOLM_CHECK(in_features >= 0 && out_features >= 0, "Linear", "negative size: in {} out {}", in_features,
               out_features);
    const double bound = in_features > 0 ? 1.0 / std::sqrt(static_cast<double>(in_features)) : 0.0;
    weight = register_parameter("weight", rand({out_features, in_features}, gen, dtype, -bound, bound));
    if (bias) this->bias = register_parameter("bias", rand({out_features}, gen, dtype, -bound, bound));
  }

  /// x [..., in] → [..., out].
  Tensor forward(const Tensor& x) const { return linear(x, weight, bias); }

  std::int64_t in_features() const { return in_features_; }
  std::int64_t out_features() const { return out_features_; }

  Tensor weight;  ///< [out, in]
  Tensor bias;    ///< [out], undefined when built without bias

 private:
  std::int64_t in_features_, out_features_;
};

}  // namespace molm::nn
