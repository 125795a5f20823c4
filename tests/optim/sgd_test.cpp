// optim/sgd.hpp: hand-computed momentum steps, resume from exported state, skipped parameters,
// bad input.
#include "support/testing.hpp"

#include <molm/optim.hpp>

using namespace molm;
using namespace molm::optim;
using Catch::Matchers::Contains;

namespace {
std::vector<Tensor> make_params() {
  return {testing::random({300, 150}, 7, DType::f32).set_requires_grad(),
          testing::random({5}, 8, DType::f64).set_requires_grad()};
}

void run_steps(Optimizer& opt, const std::vector<Tensor>& params, int from, int to) {
  for (int k = from; k < to; ++k) {
    opt.zero_grad();
    for (std::size_t i = 0; i < params.size(); ++i)
      params[i].set_grad(testing::random(params[i].shape(), 2000 + 10 * k + i, params[i].dtype()));
    opt.step();
  }
}
}  // namespace

TEST_CASE("SGD: momentum and weight decay follow torch.optim.SGD by hand", "[optim][sgd]") {
  // lr 0.1, μ 0.9, dampening 0.5, wd 0.2; p = 1, g = 0.5 then 0.25.
  Tensor p = from_vector<double>({1.0}).set_requires_grad();
  SGD opt({p}, SGDOptions{0.1, 0.9, 0.5, 0.2, false});
  p.set_grad(from_vector<double>({0.5}));
  opt.step();
  double d = 0.5 + 0.2 * 1.0, buf = d, x = 1.0 - 0.1 * buf;  // first step: buf = d, no dampening
  CHECK(p.item<double>() == Approx(x).epsilon(1e-15));
  p.set_grad(from_vector<double>({0.25}));
  opt.step();
  d = 0.25 + 0.2 * x;
  buf = buf * 0.9 + 0.5 * d;
  x = x - 0.1 * buf;
  CHECK(p.item<double>() == Approx(x).epsilon(1e-15));
  CHECK(opt.state_dict().tensors.at("0.momentum_buffer").item<double>() == Approx(buf).epsilon(1e-15));
  CHECK(opt.state_dict().steps.empty());
}

TEST_CASE("SGD: Nesterov adds μ·buf to the step; plain SGD keeps no state", "[optim][sgd]") {
  Tensor p = from_vector<double>({2.0}).set_requires_grad();
  SGD opt({p}, SGDOptions{0.5, 0.8, 0, 0, true});
  p.set_grad(from_vector<double>({1.0}));
  opt.step();  // buf = 1, d = 1 + 0.8·1
  CHECK(p.item<double>() == Approx(2.0 - 0.5 * 1.8).epsilon(1e-15));

  Tensor q = from_vector<double>({2.0}).set_requires_grad();
  SGD plain({q}, SGDOptions{0.5});
  q.set_grad(from_vector<double>({1.0}));
  plain.step();
  CHECK(q.item<double>() == 1.5);
  CHECK(plain.state_dict().tensors.empty());
}

TEST_CASE("SGD: 5 steps, export, fresh optimizer, load, 5 steps equals 10 steps bit for bit", "[optim][sgd]") {
  const SGDOptions o{1e-2, 0.9, 0.1, 0.05, false};
  auto straight = make_params();
  SGD a(straight, o);
  run_steps(a, straight, 0, 10);

  auto resumed = make_params();
  OptimizerState saved;
  {
    SGD first(resumed, o);
    run_steps(first, resumed, 0, 5);
    saved = first.state_dict();
  }
  REQUIRE(saved.tensors.size() == 2);
  SGD second(resumed, o);
  second.load_state(saved);
  run_steps(second, resumed, 5, 10);
  for (std::size_t i = 0; i < straight.size(); ++i) testing::require_close(resumed[i], straight[i], 0.0, 0.0);
}

TEST_CASE("SGD: parameter groups take their own lr and weight decay; missing gradients are skipped",
          "[optim][sgd]") {
  Tensor a = from_vector<double>({1.0}).set_requires_grad();
  Tensor b = from_vector<double>({1.0}).set_requires_grad();
  Tensor c = from_vector<double>({1.0}).set_requires_grad();
  SGD opt({{{a}, 0.5, {}}, {{b, c}, {}, 1.0}}, SGDOptions{0.1});
  CHECK(opt.lr(0) == 0.5);
  CHECK(opt.lr(1) == 0.1);
  a.set_grad(from_vector<double>({1.0}));
  b.set_grad(from_vector<double>({1.0}));
  opt.step();
  CHECK(a.item<double>() == 0.5);                // 1 − 0.5·1
  CHECK(b.item<double>() == Approx(0.8));        // 1 − 0.1·(1 + 1·1)
  CHECK(c.item<double>() == 1.0);                // no gradient: untouched
  opt.zero_grad(false);                          // keep the tensors, fill zeros
  CHECK(a.grad().item<double>() == 0.0);
  CHECK_FALSE(c.grad().defined());
  opt.zero_grad();
  CHECK_FALSE(a.grad().defined());
}

TEST_CASE("SGD: bad input is rejected with clear messages", "[optim][sgd]") {
  Tensor good = testing::random({2, 3}, 9).set_requires_grad();
  REQUIRE_THROWS_WITH(SGD({good}, SGDOptions{-0.1}), Contains("[SGD]") && Contains("learning rate -0.1"));
  REQUIRE_THROWS_WITH(SGD({good}, SGDOptions{0.1, -0.9}), Contains("momentum -0.9"));
  REQUIRE_THROWS_WITH(SGD({good}, SGDOptions{0.1, 0.0, 0, 0, true}), Contains("Nesterov"));
  REQUIRE_THROWS_WITH(SGD({good}, SGDOptions{0.1, 0.9, 0.5, 0, true}), Contains("dampening 0.5"));
  REQUIRE_THROWS_WITH(SGD({testing::sliced_layout(testing::random({4, 3}, 10))}),
                      Contains("[SGD]") && Contains("not contiguous") && Contains("[4, 3]"));
  SGD opt({good}, SGDOptions{0.1, 0.9});
  OptimizerState s;
  s.tensors["0.momentum_buffer"] = zeros({3, 2}, DType::f64);
  REQUIRE_THROWS_WITH(opt.load_state(s), Contains("[SGD]") && Contains("'0.momentum_buffer' has shape [3, 2]") &&
                                             Contains("parameter 0 has shape [2, 3]"));
  s.tensors["0.momentum_buffer"] = zeros({2, 3}, DType::f64);
  s.steps["0.step"] = 3;
  REQUIRE_THROWS_WITH(opt.load_state(s), Contains("unknown state '0.step'"));
}
