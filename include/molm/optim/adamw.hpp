// AdamW: Adam with decoupled weight decay, exactly torch.optim.AdamW (torch 2.1, amsgrad off, the
// single-tensor code path), operation by operation, so f64 runs agree to the last bits and f32 runs
// to rounding. For step t (per parameter, counted from 1), gradient g:
//
//   p ← p·(1 − lr·wd)                                  decay first, on the old parameter
//   m ← lerp(m, g, 1 − β1)                              = m + (1−β1)(g − m)
//   v ← v·β2 + (1−β2)·g·g
//   denom = √v / √(1 − β2^t) + eps                      eps outside the bias-corrected root
//   p ← p − (lr / (1 − β1^t)) · m / denom
//
// Scalars (1 − lr·wd, the bias corrections, the step size) are computed in double and rounded to the
// parameter type, as PyTorch does with Python floats; element arithmetic is in the parameter type.
// State per parameter: "exp_avg" (m), "exp_avg_sq" (v), step count.
#pragma once

#include "molm/optim/optimizer.hpp"

#include <cmath>

namespace molm::optim {

struct AdamWOptions {
  double lr = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 1e-2;  // PyTorch's default; the 3D-MoLM stages use 0.05
};

class AdamW : public Optimizer {
 public:
  explicit AdamW(std::vector<Tensor> params, AdamWOptions options = {})
      : AdamW(std::vector<ParamGroup>{ParamGroup{std::move(params), {}, {}}}, options) {}

  AdamW(std::vector<ParamGroup> groups, AdamWOptions options)
      : Optimizer("AdamW", std::move(groups), options.lr, options.weight_decay), options_(options) {
    MOLM_CHECK(options.beta1 >= 0 && options.beta1 < 1, "AdamW", "invalid beta1 {} (must be in [0, 1))",
               options.beta1);
    MOLM_CHECK(options.beta2 >= 0 && options.beta2 < 1, "AdamW", "invalid beta2 {} (must be in [0, 1))",
               options.beta2);
    MOLM_CHECK(options.eps >= 0, "AdamW", "invalid eps {} (must be >= 0)", options.eps);
  }

  const AdamWOptions& options() const { return options_; }

 protected:
  std::vector<std::string> state_names() const override { return {"exp_avg", "exp_avg_sq"}; }
  bool counts_steps() const override { return true; }

  void update(std::size_t index, const ParamGroup& group, const Tensor& param, const Tensor& grad) override {
    ParamState& st = state(index);
    if (!st.initialized) {
      st.tensors["exp_avg"] = zeros_like(param);
      st.tensors["exp_avg_sq"] = zeros_like(param);
      st.initialized = true;
    }
    const std::int64_t step = ++st.step;
    const double lr = *group.lr, wd = *group.weight_decay;
    const double bias_correction1 = 1 - std::pow(options_.beta1, static_cast<double>(step));
    const double bias_correction2 = 1 - std::pow(options_.beta2, static_cast<double>(step));
    const Scalars s{1 - lr * wd, 1 - options_.beta1, options_.beta2, 1 - options_.beta2,
                    std::sqrt(bias_correction2), options_.eps, -(lr / bias_correction1)};
    const Tensor& m = st.tensors["exp_avg"];
    const Tensor& v = st.tensors["exp_avg_sq"];
    if (param.dtype() == DType::f64) run<double>(param, grad, m, v, s);
    else run<float>(param, grad, m, v, s);
  }

 private:
  struct Scalars {
    double decay, lerp_weight, beta2, one_minus_beta2, bias_correction2_sqrt, eps, neg_step_size;
  };

  template <class T> static void run(const Tensor& param, const Tensor& grad, const Tensor& m_t, const Tensor& v_t,
                                     const Scalars& s) {
    T* p = param.data<T>();
    const T* g = grad.data<T>();
    T* m = m_t.data<T>();
    T* v = v_t.data<T>();
    const T decay = static_cast<T>(s.decay), w = static_cast<T>(s.lerp_weight), b2 = static_cast<T>(s.beta2),
            c2 = static_cast<T>(s.one_minus_beta2), bc2 = static_cast<T>(s.bias_correction2_sqrt),
            eps = static_cast<T>(s.eps), neg_step = static_cast<T>(s.neg_step_size);
    // torch.lerp switches formula at weight 0.5 for accuracy; β1 < 0.5 is rare but must match too.
    const bool small_weight = std::abs(w) < T(0.5);
    const T w_complement = T(1) - w;
    detail::for_each_block(param.numel(), [&](std::int64_t begin, std::int64_t end) {
      for (std::int64_t i = begin; i < end; ++i) {
        p[i] = p[i] * decay;
        m[i] = small_weight ? m[i] + w * (g[i] - m[i]) : g[i] - (g[i] - m[i]) * w_complement;
        v[i] = v[i] * b2;
        v[i] = v[i] + c2 * g[i] * g[i];  // addcmul: (value·g)·g
        const T denom = std::sqrt(v[i]) / bc2 + eps;
        p[i] = p[i] + neg_step * m[i] / denom;  // addcdiv: (value·m)/denom
      }
    });
    m_t.storage()->bump_version();
    v_t.storage()->bump_version();
  }

  AdamWOptions options_;
};

}  // namespace molm::optim
