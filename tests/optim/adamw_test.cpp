// optim/adamw.hpp and the Optimizer base: closed-form first step, resume from exported state
// (bit-identical), skipped parameters, versions, thread-count independence, bad input.
#include "support/testing.hpp"

#include <molm/optim.hpp>

using namespace molm;
using namespace molm::optim;
using Catch::Matchers::Contains;

namespace {
/// A gradient that depends only on the step number (so interrupted and uninterrupted runs see the same).
Tensor gradient_for(const Tensor& p, int step, int which) {
  return testing::random(p.shape(), 1000 + 10 * step + which, p.dtype(), -1, 1);
}

std::vector<Tensor> make_params() {
  // 40000 elements: large enough that the update runs on several threads.
  return {testing::random({200, 200}, 1, DType::f32).set_requires_grad(),
          testing::random({7}, 2, DType::f64).set_requires_grad()};
}

AdamW make_adamw(const std::vector<Tensor>& p) {
  return AdamW({{{p[0]}, 1e-2, 0.05}, {{p[1]}, {}, {}}}, AdamWOptions{3e-3, 0.9, 0.98, 1e-6, 0.01});
}

void run_steps(Optimizer& opt, const std::vector<Tensor>& params, int from, int to) {
  for (int k = from; k < to; ++k) {
    opt.zero_grad();
    for (std::size_t i = 0; i < params.size(); ++i) params[i].set_grad(gradient_for(params[i], k, static_cast<int>(i)));
    opt.step();
  }
}

void require_identical(const Tensor& a, const Tensor& b) { testing::require_close(a, b, 0.0, 0.0); }
}  // namespace

TEST_CASE("AdamW: the first step has the closed form of bias-corrected Adam", "[optim][adamw]") {
  // After one step m̂ = g and v̂ = g², so p ← p(1 − lr·wd) − lr·g/(|g| + eps).
  Tensor p = from_vector<double>({0.5, -1.0, 2.0}).set_requires_grad();
  p.set_grad(from_vector<double>({0.3, -2.0, 1e-3}));
  AdamW opt({p}, AdamWOptions{0.1, 0.9, 0.999, 1e-8, 0.05});
  opt.step();
  const std::vector<double> p0{0.5, -1.0, 2.0}, g{0.3, -2.0, 1e-3};
  const auto got = testing::values(p);
  for (int i = 0; i < 3; ++i)
    CHECK(got[i] == Approx(p0[i] * (1 - 0.1 * 0.05) - 0.1 * g[i] / (std::abs(g[i]) + 1e-8)).epsilon(1e-12));
  const OptimizerState s = opt.state_dict();
  CHECK(s.steps.at("0.step") == 1);
  testing::require_close(s.tensors.at("0.exp_avg"), from_vector<double>({0.03, -0.2, 1e-4}), 1e-12);
}

TEST_CASE("AdamW: 5 steps, export, fresh optimizer, load, 5 steps equals 10 steps bit for bit", "[optim][adamw]") {
  auto straight = make_params();
  AdamW a = make_adamw(straight);
  run_steps(a, straight, 0, 10);

  auto resumed = make_params();
  OptimizerState saved;
  {
    AdamW first = make_adamw(resumed);
    run_steps(first, resumed, 0, 5);
    saved = first.state_dict();
  }
  REQUIRE(saved.tensors.size() == 4);
  REQUIRE(saved.steps.size() == 2);
  AdamW second = make_adamw(resumed);
  second.load_state(saved);
  run_steps(second, resumed, 5, 10);
  for (std::size_t i = 0; i < straight.size(); ++i) require_identical(resumed[i], straight[i]);
  const OptimizerState end_a = a.state_dict(), end_b = second.state_dict();
  for (const auto& [k, t] : end_a.tensors) require_identical(end_b.tensors.at(k), t);
  CHECK(end_a.steps == end_b.steps);
}

TEST_CASE("AdamW: exported state is a copy; loading copies too", "[optim][adamw]") {
  auto params = make_params();
  AdamW opt = make_adamw(params);
  run_steps(opt, params, 0, 2);
  OptimizerState s = opt.state_dict();
  const auto before = testing::values(s.tensors.at("1.exp_avg"));
  run_steps(opt, params, 2, 3);
  CHECK(testing::values(s.tensors.at("1.exp_avg")) == before);
  opt.load_state(s);
  run_steps(opt, params, 3, 4);
  CHECK(testing::values(s.tensors.at("1.exp_avg")) == before);
}

TEST_CASE("AdamW: a parameter without a gradient is skipped and its step count does not advance", "[optim][adamw]") {
  auto params = make_params();
  const auto frozen = testing::values(params[1]);
  AdamW opt = make_adamw(params);
  params[0].set_grad(gradient_for(params[0], 0, 0));
  opt.step();
  CHECK(testing::values(params[1]) == frozen);
  OptimizerState s = opt.state_dict();
  CHECK(s.steps.count("0.step") == 1);
  CHECK(s.steps.count("1.step") == 0);
  CHECK(s.tensors.count("1.exp_avg") == 0);
  params[1].set_grad(gradient_for(params[1], 0, 1));
  opt.step();
  s = opt.state_dict();
  CHECK(s.steps.at("0.step") == 2);
  CHECK(s.steps.at("1.step") == 1);
}

TEST_CASE("AdamW: step writes in place under no_grad and bumps the version", "[optim][adamw]") {
  Tensor p = testing::random({4, 3}, 3).set_requires_grad();
  Tensor y = p * p;  // saves p for backward
  AdamW opt({p});
  p.set_grad(ones_like(p));
  const auto v0 = p.version();
  const void* data = p.raw_data();
  opt.step();
  CHECK(p.version() > v0);
  CHECK(p.raw_data() == data);
  CHECK(p.requires_grad());
  CHECK(autograd::grad_enabled());
  // The graph saved the old p: differentiating through it now must fail loudly.
  REQUIRE_THROWS_AS(sum(y).backward(), molm::error);
}

TEST_CASE("AdamW: the result does not depend on the thread count", "[optim][adamw]") {
  const int threads = num_threads();
  auto one = make_params(), two = make_params();
  set_num_threads(1);
  AdamW a = make_adamw(one);
  run_steps(a, one, 0, 3);
  set_num_threads(std::max(2, threads));
  AdamW b = make_adamw(two);
  run_steps(b, two, 0, 3);
  set_num_threads(threads);
  for (std::size_t i = 0; i < one.size(); ++i) require_identical(one[i], two[i]);
}

TEST_CASE("AdamW: bad parameters and hyper-parameters are rejected with clear messages", "[optim][adamw]") {
  Tensor good = testing::random({2, 3}, 4).set_requires_grad();
  Tensor strided = testing::transposed_layout(testing::random({3, 4}, 5));
  REQUIRE_THROWS_WITH(AdamW({strided}), Contains("[AdamW]") && Contains("not contiguous") && Contains("[3, 4]"));
  REQUIRE_THROWS_WITH(AdamW({good}, AdamWOptions{-1e-3}), Contains("[AdamW]") && Contains("learning rate -0.001"));
  REQUIRE_THROWS_WITH(AdamW({good}, AdamWOptions{1e-3, 1.0}), Contains("beta1"));
  REQUIRE_THROWS_WITH(AdamW({good}, AdamWOptions{1e-3, 0.9, -0.1}), Contains("beta2"));
  REQUIRE_THROWS_WITH(AdamW({good}, AdamWOptions{1e-3, 0.9, 0.999, -1}), Contains("eps"));
  REQUIRE_THROWS_WITH(AdamW({good}, AdamWOptions{1e-3, 0.9, 0.999, 1e-8, -0.1}), Contains("weight_decay"));
  REQUIRE_THROWS_WITH(AdamW(std::vector<Tensor>{}), Contains("empty parameter list"));
  REQUIRE_THROWS_WITH(AdamW({good, good}), Contains("parameter 1") && Contains("same tensor as parameter 0"));
  REQUIRE_THROWS_WITH(AdamW({good * 2.0}), Contains("not a leaf"));
  REQUIRE_THROWS_WITH(AdamW({testing::random({2}, 6, DType::bf16)}), Contains("bf16") && Contains("f32 and f64"));
  AdamW opt({good});
  REQUIRE_THROWS_WITH(opt.set_lr(-1), Contains("learning rate -1"));
  REQUIRE_THROWS_WITH(opt.set_lr(3, 0.1), Contains("group 3 does not exist"));
}

TEST_CASE("AdamW: loading state checks keys, indices, shapes and completeness before changing anything",
          "[optim][adamw]") {
  auto params = make_params();
  AdamW opt = make_adamw(params);
  run_steps(opt, params, 0, 1);
  const OptimizerState good = opt.state_dict();

  OptimizerState wrong_shape = good;
  wrong_shape.tensors["1.exp_avg"] = zeros({3, 3}, DType::f64);
  REQUIRE_THROWS_WITH(opt.load_state(wrong_shape),
                      Contains("[AdamW]") && Contains("'1.exp_avg'") && Contains("[3, 3]") && Contains("parameter 1") &&
                          Contains("[7]"));
  OptimizerState unknown = good;
  unknown.tensors["0.momentum_buffer"] = zeros({200, 200});
  REQUIRE_THROWS_WITH(opt.load_state(unknown), Contains("unknown state '0.momentum_buffer'"));
  OptimizerState out_of_range = good;
  out_of_range.tensors["5.exp_avg"] = zeros({7}, DType::f64);
  REQUIRE_THROWS_WITH(opt.load_state(out_of_range), Contains("parameter 5") && Contains("has 2 parameters"));
  OptimizerState malformed = good;
  malformed.tensors["x.exp_avg"] = zeros({7}, DType::f64);
  REQUIRE_THROWS_WITH(opt.load_state(malformed), Contains("malformed state key 'x.exp_avg'"));
  OptimizerState incomplete = good;
  incomplete.tensors.erase("1.exp_avg_sq");
  REQUIRE_THROWS_WITH(opt.load_state(incomplete), Contains("parameter 1 lacks '1.exp_avg_sq'"));
  OptimizerState no_step = good;
  no_step.steps.erase("0.step");
  REQUIRE_THROWS_WITH(opt.load_state(no_step), Contains("parameter 0 lacks '0.step'"));

  // Nothing changed by the failed loads: the run continues exactly like an untouched copy.
  auto twin = make_params();
  AdamW ref = make_adamw(twin);
  run_steps(ref, twin, 0, 2);
  run_steps(opt, params, 1, 2);
  for (std::size_t i = 0; i < params.size(); ++i) require_identical(params[i], twin[i]);

  // State of another floating dtype is converted to the parameter's, as torch does.
  OptimizerState converted = good;
  converted.tensors["1.exp_avg"] = good.tensors.at("1.exp_avg").to(DType::f32);
  opt.load_state(converted);
  CHECK(opt.state_dict().tensors.at("1.exp_avg").dtype() == DType::f64);
}
