// LayerNorm over the last dimension, PyTorch's nn.LayerNorm (elementwise affine):
//   y = (x − mean) / sqrt(var + eps) · weight + bias,  "weight" [dim] = 1, "bias" [dim] = 0.
// eps is 1e-5 in Uni-Mol and 1e-12 in the Q-Former (reference-model.md §2.3, §3.1).
#pragma once

#include "molm/nn/module.hpp"

namespace molm::nn {

class LayerNorm : public Module {
 public:
  explicit LayerNorm(std::int64_t dim, double eps = 1e-5, DType dtype = DType::f32) : eps_(eps) {
    weight = register_parameter("weight", ones({dim}, dtype));
    bias = register_parameter("bias", zeros({dim}, dtype));
  }

  Tensor forward(const Tensor& x) const { return layer_norm(x, weight, bias, eps_); }
  double eps() const { return eps_; }

  Tensor weight;  ///< [dim]
  Tensor bias;    ///< [dim]

 private:
  double eps_;
};

}  // namespace molm::nn
