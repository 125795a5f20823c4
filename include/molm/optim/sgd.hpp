// SGD with optional momentum, dampening, Nesterov and (coupled) weight decay: torch.optim.SGD (torch
// 2.1, single-tensor path). For gradient g:
//
//   d = g + wd·p                                   (only when wd ≠ 0: the decay enters the momentum)
//   buf = d on the first step, else buf·μ + (1 − dampening)·d        (only when μ ≠ 0)
//   d = Nesterov ? d + μ·buf : buf
//   p ← p − lr·d
//
// State per parameter: "momentum_buffer" once momentum is in use; there is no step count.
#pragma once

#include "molm/optim/optimizer.hpp"

namespace molm::optim {

struct SGDOptions {
  double lr = 1e-3;
  double momentum = 0;
  double dampening = 0;
  double weight_decay = 0;
  bool nesterov = false;
};

class SGD : public Optimizer {
 public:
  explicit SGD(std::vector<Tensor> params, SGDOptions options = {})
      : SGD(std::vector<ParamGroup>{ParamGroup{std::move(params), {}, {}}}, options) {}

  SGD(std::vector<ParamGroup> groups, SGDOptions options)
      : Optimizer("SGD", std::move(groups), options.lr, options.weight_decay), options_(options) {
    MOLM_CHECK(options.momentum >= 0, "SGD", "invalid momentum {} (must be >= 0)", options.momentum);
    MOLM_CHECK(!options.nesterov || (options.momentum > 0 && options.dampening == 0), "SGD",
               "Nesterov momentum needs momentum > 0 and dampening 0 (got momentum {}, dampening {})",
               options.momentum, options.dampening);
  }

  const SGDOptions& options() const { return options_; }

 protected:
  std::vector<std::string> state_names() const override {
    return options_.momentum != 0 ? std::vector<std::string>{"momentum_buffer"} : std::vector<std::string>{};
  }
  bool counts_steps() const override { return false; }

  void update(std::size_t index, const ParamGroup& group, const Tensor& param, const Tensor& grad) override {
    ParamState& st = state(index);
    const bool first = options_.momentum != 0 && !st.initialized;
    if (first) {
      st.tensors["momentum_buffer"] = Tensor::empty(param.shape(), param.dtype());
      st.initialized = true;
    }
    const Tensor buf = options_.momentum != 0 ? st.tensors["momentum_buffer"] : Tensor();
    if (param.dtype() == DType::f64) run<double>(param, grad, buf, *group.lr, *group.weight_decay, first);
    else run<float>(param, grad, buf, *group.lr, *group.weight_decay, first);
  }

 private:
  template <class T>
  void run(const Tensor& param, const Tensor& grad, const Tensor& buf_t, double lr, double weight_decay,
           bool first) const {
    T* p = param.data<T>();
    const T* g = grad.data<T>();
    T* buf = buf_t.defined() ? buf_t.data<T>() : nullptr;
    const T wd = static_cast<T>(weight_decay), mu = static_cast<T>(options_.momentum),
            keep = static_cast<T>(1 - options_.dampening), neg_lr = static_cast<T>(-lr);
    const bool decay = weight_decay != 0, nesterov = options_.nesterov;
    detail::for_each_block(param.numel(), [&](std::int64_t begin, std::int64_t end) {
      for (std::int64_t i = begin; i < end; ++i) {
        T d = decay ? g[i] + wd * p[i] : g[i];
        if (buf) {
          buf[i] = first ? d : buf[i] * mu + keep * d;
          d = nesterov ? d + mu * buf[i] : buf[i];
        }
        p[i] = p[i] + neg_lr * d;
      }
    });
    if (buf_t.defined()) buf_t.storage()->bump_version();
  }

  SGDOptions options_;
};

}  // namespace molm::optim
