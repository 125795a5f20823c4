// Golden values from PyTorch 2.1.2 (tests/golden/gen_optim.py → tests/golden/data/optim/): 20 steps of
// torch.optim.AdamW and torch.optim.SGD (with parameter groups, a skipped gradient, an lr schedule,
// clip_grad_norm_) on a fixed problem with an f64 and an f32 parameter, and the lr of every reference
// schedule configuration over many positions.
//
// Every run is replayed twice: once feeding PyTorch's recorded gradients (the optimizer alone), once
// end to end with the loss rebuilt from molm ops, checking per step the gradient, the clip norm, the
// lr and then the parameters.
//
// Tolerances: parameters f64 rtol 1e-12 (the same operations in the same order), f32 rtol 1e-6 with atol 1e-7 (PyTorch's kernels fuse some multiply-adds, so an element can
// be an ulp off). End to end, f32 gradients get rtol 1e-5 / atol 1e-6 (tanh differs by an ulp and
// 1 − y² magnifies it), and with clipping the f64 side is held to 1e-7, since the joint norm mixes in
// the f32 gradient's error. Schedules: the same double formulas, rtol 1e-12.
#include "support/testing.hpp"

#include <molm/optim.hpp>

#include <limits>
#include <memory>
#include <string>

using namespace molm;
using namespace molm::optim;

namespace {
Tensor golden(const std::string& file) { return load_npy(testing::golden_dir() / "optim" / (file + ".npy")); }

struct Tol {
  double rtol, atol;
};
Tol tolerance(DType dt) { return dt == DType::f64 ? Tol{1e-12, 1e-14} : Tol{1e-6, 1e-7}; }
/// f32 gradients of the molm loss: tanh differs from PyTorch's by an ulp and 1 − y² magnifies it.
Tol gradient_tolerance(DType dt) { return dt == DType::f64 ? Tol{1e-12, 1e-14} : Tol{1e-5, 1e-6}; }
/// End to end with clipping, the f64 side inherits the f32 gradient's error through the joint norm
/// (the f32 norm is ~1e-7 relative off), so f64 is held to 1e-7 there.
Tol coupled_tolerance(DType dt, Tol tol) { return dt == DType::f64 ? Tol{1e-7, 1e-10} : tol; }

/// The generator's loss: Σ_i sum(a_i (p_i − c_i)(p_i − c_i) + tanh(d_i p_i)), accumulated in f64.
Tensor loss_of(const std::vector<Tensor>& params) {
  Tensor total;
  for (std::size_t i = 0; i < params.size(); ++i) {
    const std::string k = std::to_string(i);
    const Tensor a = golden("data_a" + k), c = golden("data_c" + k), d = golden("data_d" + k);
    const Tensor diff = params[i] - c;
    Tensor term = sum(a * diff * diff + tanh(d * params[i])).to(DType::f64);
    total = total.defined() ? total + term : term;
  }
  return total;
}

struct Run {
  std::string name;
  std::function<std::unique_ptr<Optimizer>(const std::vector<Tensor>&)> make;
  std::function<double(std::int64_t)> lr_at;  // empty: constant lr
  double clip_max = -1, clip_norm = 2;       // clip_max < 0: no clipping
  std::function<bool(int)> drop_p1;  // steps on which p1's gradient is dropped
};

bool no_drop(int) { return false; }

enum class Gradients {
  molm_loss,      // backward through the loss rebuilt from molm ops (end to end)
  torch_recorded  // set to the gradients PyTorch's optimizer saw, after clipping (the optimizer alone)
};

void replay(const Run& run, Gradients source) {
  INFO("run " << run.name << (source == Gradients::molm_loss ? ", molm loss" : ", PyTorch's gradients"));
  std::vector<Tensor> traj{golden(run.name + "_p0"), golden(run.name + "_p1")};
  std::vector<Tensor> grads{golden(run.name + "_g0"), golden(run.name + "_g1")};
  std::vector<Tensor> params;
  for (const Tensor& t : traj) params.push_back(t.select(0, 0).clone().set_requires_grad());
  auto opt = run.make(params);
  const Tensor lrs = run.lr_at ? golden(run.name + "_lr") : Tensor();
  const Tensor norms = run.clip_max >= 0 ? golden(run.name + "_norm") : Tensor();
  for (int k = 0; k < 20; ++k) {
    INFO("step " << k);
    opt->zero_grad();
    if (run.lr_at) {
      opt->set_lr(run.lr_at(k));
      REQUIRE(opt->lr() == Approx(lrs.data<double>()[k]).epsilon(1e-15));
    }
    if (source == Gradients::molm_loss) {
      loss_of(params).backward();
      if (run.drop_p1(k)) params[1].zero_grad();
      if (run.clip_max >= 0) {
        const double norm = clip_grad_norm(params, run.clip_max, run.clip_norm);
        REQUIRE(norm == Approx(norms.data<double>()[k]).epsilon(1e-6));
      }
      for (std::size_t i = 0; i < params.size(); ++i) {
        if (!params[i].grad().defined()) continue;
        INFO("gradient of p" << i);
        Tol tol = gradient_tolerance(params[i].dtype());
        if (run.clip_max >= 0) tol = coupled_tolerance(params[i].dtype(), tol);
        testing::require_close(params[i].grad(), grads[i].select(0, k), tol.rtol, tol.atol);
      }
    } else {
      for (std::size_t i = 0; i < params.size(); ++i)
        if (!(i == 1 && run.drop_p1(k))) params[i].set_grad(grads[i].select(0, k).clone());
    }
    opt->step();
    for (std::size_t i = 0; i < params.size(); ++i) {
      INFO("p" << i << " after the step");
      Tol tol = tolerance(params[i].dtype());
      if (run.clip_max >= 0 && source == Gradients::molm_loss) tol = coupled_tolerance(params[i].dtype(), tol);
      testing::require_close(params[i], traj[i].select(0, k + 1), tol.rtol, tol.atol);
    }
  }
}

void replay(const Run& run) {
  replay(run, Gradients::torch_recorded);
  replay(run, Gradients::molm_loss);
}
}  // namespace

TEST_CASE("golden optim: AdamW with two parameter groups and a skipped gradient", "[golden][optim]") {
  replay({"adamw", [](const std::vector<Tensor>& p) -> std::unique_ptr<Optimizer> {
            return std::make_unique<AdamW>(std::vector<ParamGroup>{{{p[0]}, 1e-2, 0.05}, {{p[1]}, 5e-3, 0.0}},
                                           AdamWOptions{});
          },
          {}, -1, 2, [](int k) { return k % 4 == 3; }});
}

TEST_CASE("golden optim: AdamW driven by a warm-up + cosine schedule with gradient clipping", "[golden][optim]") {
  const WarmupCosineByStep schedule{1e-2, 1e-4, 1e-3, 5, 20};
  replay({"adamw_sched",
          [](const std::vector<Tensor>& p) -> std::unique_ptr<Optimizer> {
            return std::make_unique<AdamW>(p, AdamWOptions{1e-2, 0.9, 0.98, 1e-6, 0.05});
          },
          [schedule](std::int64_t k) { return schedule(0, k); }, 0.5, 2, no_drop});
}

TEST_CASE("golden optim: SGD with momentum and weight decay", "[golden][optim]") {
  replay({"sgd", [](const std::vector<Tensor>& p) -> std::unique_ptr<Optimizer> {
            return std::make_unique<SGD>(p, SGDOptions{1e-2, 0.9, 0, 0.05, false});
          },
          {}, -1, 2, no_drop});
}

TEST_CASE("golden optim: SGD with Nesterov momentum and infinity-norm clipping", "[golden][optim]") {
  replay({"sgd_nesterov",
          [](const std::vector<Tensor>& p) -> std::unique_ptr<Optimizer> {
            return std::make_unique<SGD>(p, SGDOptions{5e-3, 0.9, 0, 0.01, true});
          },
          {}, 1.0, std::numeric_limits<double>::infinity(), no_drop});
}

TEST_CASE("golden optim: learning-rate schedules of the reference stages", "[golden][optim][schedule]") {
  const std::vector<std::pair<std::string, LRScheduler::Schedule>> cases{
      {"stage1_pretrain", WarmupCosineByEpoch{1e-4, 5e-6, 1e-6, 1000, 50}},
      {"stage1_ft_released", WarmupCosineByEpoch{1e-4, 1e-5, 1e-6, 91, 50}},
      {"stage2", WarmupCosineByEpoch{1e-4, 5e-6, 1e-6, 600, 10}},
      {"step_decay", WarmupStepDecayByEpoch{1e-4, 5e-6, 1e-6, 200, 0.9}},
      {"no_warmup_start", WarmupCosineByEpoch{3e-4, 1e-6, -1, 50, 5}},
      {"stage3", WarmupCosineByStep{1e-5, 1e-8, 1e-6, 1000, 40000}},
  };
  for (const auto& [name, schedule] : cases) {
    INFO("schedule " << name);
    const Tensor epochs = golden("sched_" + name + "_epoch"), steps = golden("sched_" + name + "_step");
    const Tensor expected = golden("sched_" + name + "_lr");
    REQUIRE(epochs.numel() > 10);
    LRScheduler scheduler(schedule);
    std::vector<double> got;
    for (std::int64_t i = 0; i < epochs.numel(); ++i)
      got.push_back(scheduler.lr_at(epochs.data<std::int64_t>()[i], steps.data<std::int64_t>()[i]));
    testing::require_close(from_vector<double>(got), expected, 1e-12);
  }
}
