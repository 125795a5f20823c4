// RMSNorm over the last dimension, HF's LlamaRMSNorm: y = weight · x / sqrt(mean(x²) + eps), with
// "weight" [dim] = 1 and eps 1e-6 for Llama-2 (reference-model.md §5.1). The statistics are kept in
// float for bf16 inputs, as HF does (ops::rms_norm).
#pragma once

#include "molm/nn/module.hpp"

namespace molm::nn {

class RMSNorm : public Module {
 public:
  explicit RMSNorm(std::int64_t dim, double eps = 1e-6, DType dtype = DType::f32) : eps_(eps) {
    weight = register_parameter("weight", ones({dim}, dtype));
  }

  Tensor forward(const Tensor& x) const { return rms_norm(x, weight, eps_); }
  double eps() const { return eps_; }

  Tensor weight;  ///< [dim]

 private:
  double eps_;
};

}  // namespace molm::nn
