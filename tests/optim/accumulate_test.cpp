// optim/accumulate.hpp: k micro-batches of b samples, each loss scaled by 1/k, give the gradient and
// the AdamW update of one batch of k·b samples (f64: to 1e-12; f32: to rounding); the optimizer steps
// on every k-th micro-batch only and the gradients are cleared after it.
#include "support/testing.hpp"

#include <molm/optim.hpp>
#include <molm/optim/accumulate.hpp>

using namespace molm;
using namespace molm::optim;

namespace {
struct Model {
  Tensor w, b;
  Model(DType dt) : w(testing::random({5, 7}, 1, dt).set_requires_grad()), b(testing::random({5}, 2, dt).set_requires_grad()) {}
  std::vector<Tensor> params() const { return {w, b}; }
  Tensor loss(const Tensor& x, const Tensor& target) const { return cross_entropy(linear(x, w, b), target); }
};

void check_accumulation(DType dt, double rtol, double atol) {
  constexpr std::int64_t k = 4, batch = 3;
  const Tensor x = testing::random({k * batch, 7}, 3, dt, -2, 2);
  Generator g(4);
  const Tensor target = randint(0, 5, {k * batch}, g);

  Model whole(dt), parts(dt);
  AdamW opt_whole(whole.params(), {0.1, 0.9, 0.999, 1e-8, 0.01});
  AdamW opt_parts(parts.params(), {0.1, 0.9, 0.999, 1e-8, 0.01});
  for (int update = 0; update < 3; ++update) {
    whole.loss(x, target).backward();

    GradientAccumulator acc(k);
    for (std::int64_t i = 0; i < k; ++i) {
      CHECK(acc.pending() == i);
      acc.scale(parts.loss(x.narrow(0, i * batch, batch), target.narrow(0, i * batch, batch))).backward();
      if (i + 1 < k) {
        REQUIRE_FALSE(acc.step(opt_parts));
      } else {
        // Before the update the accumulated gradient is the big batch's.
        testing::require_close(parts.w.grad(), whole.w.grad(), rtol, atol);
        testing::require_close(parts.b.grad(), whole.b.grad(), rtol, atol);
        REQUIRE(acc.step(opt_parts));
      }
    }
    CHECK(acc.pending() == 0);
    CHECK_FALSE(parts.w.grad().defined());  // zero_grad ran
    opt_whole.step();
    opt_whole.zero_grad();
    testing::require_close(parts.w, whole.w, rtol, atol);
    testing::require_close(parts.b, whole.b, rtol, atol);
  }
}
}  // namespace

TEST_CASE("GradientAccumulator: k micro-batches equal one batch of k·b (f64)", "[optim][accumulate]") {
  check_accumulation(DType::f64, 1e-12, 1e-14);
}

TEST_CASE("GradientAccumulator: k micro-batches equal one batch of k·b (f32)", "[optim][accumulate]") {
  check_accumulation(DType::f32, 1e-5, 1e-6);
}

TEST_CASE("GradientAccumulator: one micro-batch steps every time; bad counts are rejected", "[optim][accumulate]") {
  Tensor p = from_vector<double>({1.0, 2.0}).set_requires_grad();
  SGD opt({p}, SGDOptions{0.5});
  GradientAccumulator acc(1);
  const Tensor loss = sum(mul(p, p));
  CHECK(acc.scale(loss).is_same(loss));
  acc.scale(loss).backward();
  REQUIRE(acc.step(opt));
  CHECK(testing::values(p) == std::vector<double>{0.0, 0.0});  // p - 0.5 · 2p
  REQUIRE_THROWS_WITH(GradientAccumulator(0), Catch::Matchers::Contains("at least 1 micro-batch"));
}
