// MLP: fc1 → activation → fc2, the transformer feed-forward block without residual or norm.
//   y = fc2(act(fc1(x))),  fc1: in → hidden,  fc2: hidden → out
// The children are named "fc1" and "fc2" by default (Uni-Mol's names); other names can be given.
// Models whose checkpoints put the two linears in different sub-modules (BERT's intermediate.dense /
// output.dense) or gate them (Llama's SwiGLU) build them from Linear directly.
#pragma once

#include "molm/nn/linear.hpp"

namespace molm::nn {

enum class Activation { gelu, gelu_tanh, relu, silu, identity };

/// act(x) for the activations MLPs use; gelu is the exact (erf) form of BERT and Uni-Mol.
inline Tensor activate(const Tensor& x, Activation a) {
  switch (a) {
    case Activation::gelu: return gelu(x);
    case Activation::gelu_tanh: return gelu(x, GeluApprox::tanh);
    case Activation::relu: return relu(x);
    case Activation::silu: return silu(x);
    case Activation::identity: return x;
  }
  MOLM_THROW("activate", "unknown activation {}", static_cast<int>(a));
}

struct MLPConfig {
  std::int64_t in_features = 0;      ///< input width
  std::int64_t hidden_features = 0;  ///< width after fc1
  std::int64_t out_features = 0;     ///< output width; 0 = in_features
  Activation activation = Activation::gelu;
  bool bias = true;
  std::string fc1_name = "fc1";
  std::string fc2_name = "fc2";
  DType dtype = DType::f32;
};

class MLP : public Module {
 public:
  MLP(const MLPConfig& c, Generator& gen) : activation_(c.activation) {
    const std::int64_t out = c.out_features > 0 ? c.out_features : c.in_features;
    fc1 = register_module(c.fc1_name, std::make_shared<Linear>(c.in_features, c.hidden_features, gen, c.bias, c.dtype));
    fc2 = register_module(c.fc2_name, std::make_shared<Linear>(c.hidden_features, out, gen, c.bias, c.dtype));
  }

  Tensor forward(const Tensor& x) const { return fc2->forward(activate(fc1->forward(x), activation_)); }

  std::shared_ptr<Linear> fc1, fc2;

 private:
  Activation activation_;
};

}  // namespace molm::nn
