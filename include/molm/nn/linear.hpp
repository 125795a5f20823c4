// Linear: y = x·Wᵀ + b, PyTorch's nn.Linear. Parameters "weight" [out, in] and "bias" [out] (absent
// when bias = false, as HF Llama's projections are).
//
// Initialisation follows PyTorch: kaiming_uniform_(a = sqrt(5)) on the weight reduces to
// U(-1/sqrt(in), 1/sqrt(in)), and the bias uses the same bound. The values come from a molm
// Generator, so they are reproducible but not PyTorch's numbers; checkpoints overwrite them anyway.
//
// A Linear may carry an adapter (LoRA, nn/lora.hpp) that forward() consults, so model code calls
// forward() the same way whether adapters are present or not. For inference, quantize_int8()
// replaces the weight by its int8 form (ops/quantized.hpp); forward() then runs linear_q8.
#pragma once

#include "molm/nn/module.hpp"

#include <cmath>
#include <memory>

namespace molm::nn {

/// Something that adds to a Linear's output, e.g. a LoRA update (nn/lora.hpp). Abstract here so a
/// plain Linear needs nothing from the adapter code.
class LinearAdapter {
 public:
  virtual ~LinearAdapter() = default;
  /// `y` is the base layer's output for `x`; returns y plus the adapter's contribution.
  virtual Tensor forward(const Tensor& x, const Tensor& y) const = 0;
};

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

  /// x [..., in] → [..., out] (plus the adapter's term when one is attached).
  Tensor forward(const Tensor& x) const {
    Tensor y = q8 ? linear_q8(x, *q8, bias) : linear(x, weight, bias);
    return adapter ? adapter->forward(x, y) : y;
  }

  /// Inference with int8 weights: the weight is quantized (blocks of 32 with one scale each) and
  /// its memory released: `weight` becomes an empty [0, in] tensor, so a state dict of this layer no
  /// longer loads or saves (the step cannot be undone). An adapter keeps working on top.
  void quantize_int8() {
    if (q8) return;
    q8 = std::make_shared<const Q8Weight>(quantize_q8(weight.detach()));
    release(weight);
  }

  /// Empty `t` in place ([0, in], no storage), as every handle to it sees.
  static void release(Tensor& t) {
    const Tensor e = Tensor::empty({0, t.dim() == 2 ? t.shape()[1] : 0}, t.dtype());
    TensorImpl* impl = t.impl();
    impl->storage = e.storage();
    impl->shape = e.shape();
    impl->strides = e.strides();
    impl->offset = 0;
    impl->grad = Tensor();
  }

  std::int64_t in_features() const { return in_features_; }
  std::int64_t out_features() const { return out_features_; }

  Tensor weight;  ///< [out, in]
  Tensor bias;    ///< [out], undefined when built without bias
  std::shared_ptr<LinearAdapter> adapter;  ///< null for a plain layer; set by lora::wrap
  std::shared_ptr<const Q8Weight> q8;      ///< the int8 weight after quantize_int8(), else null

 private:
  std::int64_t in_features_, out_features_;
};

}  // namespace molm::nn
