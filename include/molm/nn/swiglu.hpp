// SwiGLU feed-forward block (Shazeer 2020), HF Llama's LlamaMLP under its parameter names:
//   y = down_proj( silu(gate_proj(x)) · up_proj(x) ),  gate_proj, up_proj: C → F,  down_proj: F → C
// No biases (Llama's projections have none). LoRA (nn/lora.hpp) wraps the three Linears by name.
#pragma once

#include "molm/nn/linear.hpp"

namespace molm::nn {

class SwiGLU : public Module {
 public:
  SwiGLU(std::int64_t features, std::int64_t hidden, Generator& gen, DType dtype = DType::f32) {
    gate_proj = register_module("gate_proj", std::make_shared<Linear>(features, hidden, gen, false, dtype));
    up_proj = register_module("up_proj", std::make_shared<Linear>(features, hidden, gen, false, dtype));
    down_proj = register_module("down_proj", std::make_shared<Linear>(hidden, features, gen, false, dtype));
  }

  /// x [..., C] → [..., C].
  Tensor forward(const Tensor& x) const { return down_proj->forward(mul(silu(gate_proj->forward(x)), up_proj->forward(x))); }

  std::shared_ptr<Linear> gate_proj, up_proj, down_proj;
};

}  // namespace molm::nn
