// optim/clip.hpp: clip_grad_norm against hand-computed norms (2, 1, ∞), no-op below the limit,
// mixed dtypes, strided gradients, thread-count independence, non-finite norms, bad input.
#include "support/testing.hpp"

#include <molm/optim.hpp>

#include <limits>

using namespace molm;
using namespace molm::optim;
using Catch::Matchers::Contains;

namespace {
Tensor param_with_grad(std::vector<double> grad, DType dt = DType::f64) {
  const std::int64_t n = static_cast<std::int64_t>(grad.size());
  Tensor p = zeros({n}, dt).set_requires_grad();
  p.set_grad(from_vector<double>(grad).reshape({n}).to(dt));
  return p;
}
}  // namespace

TEST_CASE("clip_grad_norm: scales all gradients by max_norm / (total + 1e-6) and returns the total",
          "[optim][clip]") {
  Tensor a = param_with_grad({3.0}), b = param_with_grad({0.0, 4.0});
  Tensor none = zeros({2}, DType::f64).set_requires_grad();  // no gradient: ignored
  const double total = clip_grad_norm({a, none, b}, 1.0);
  CHECK(total == 5.0);
  const double coef = 1.0 * (1.0 / (5.0 + 1e-6));
  CHECK(a.grad().item<double>() == 3.0 * coef);
  CHECK(testing::values(b.grad()) == std::vector<double>{0.0, 4.0 * coef});
  CHECK_FALSE(none.grad().defined());
}

TEST_CASE("clip_grad_norm: below the limit the gradients stay (coefficient clamped to 1)", "[optim][clip]") {
  Tensor a = param_with_grad({0.3, -0.4});
  const auto v0 = a.grad().version();
  CHECK(clip_grad_norm({a}, 10.0) == Approx(0.5).epsilon(1e-15));
  CHECK(testing::values(a.grad()) == std::vector<double>{0.3, -0.4});
  CHECK(a.grad().version() > v0);  // written (by 1.0), like torch
}

TEST_CASE("clip_grad_norm: 1-norm, infinity-norm and a general p", "[optim][clip]") {
  Tensor a = param_with_grad({1.0, -2.0}), b = param_with_grad({-3.0});
  CHECK(clip_grad_norm({a, b}, 100.0, 1.0) == 6.0);
  CHECK(clip_grad_norm({a, b}, 100.0, std::numeric_limits<double>::infinity()) == 3.0);
  CHECK(clip_grad_norm({a, b}, 100.0, 3.0) == Approx(std::cbrt(1.0 + 8.0 + 27.0)).epsilon(1e-14));
  CHECK(clip_grad_norm({a, b}, 1.5, std::numeric_limits<double>::infinity()) == 3.0);
  CHECK(b.grad().item<double>() == Approx(-1.5).epsilon(1e-6));
}

TEST_CASE("clip_grad_norm: f32 gradients get an f32 coefficient; mixed with f64, an f64 one", "[optim][clip]") {
  Tensor a = param_with_grad({3.0}, DType::f32), b = param_with_grad({4.0}, DType::f32);
  CHECK(clip_grad_norm({a, b}, 1.0) == 5.0);
  const float coef = 1.0f * (1.0f / (5.0f + static_cast<float>(1e-6)));
  CHECK(a.grad().item<float>() == 3.0f * coef);
  Tensor c = param_with_grad({3.0}, DType::f32), d = param_with_grad({4.0});
  CHECK(clip_grad_norm({c, d}, 1.0) == 5.0);
  CHECK(d.grad().item<double>() == 4.0 * (1.0 / (5.0 + 1e-6)));
  CHECK(c.grad().item<float>() == static_cast<float>(3.0f * static_cast<float>(1.0 / (5.0 + 1e-6))));
}

TEST_CASE("clip_grad_norm: strided gradients, many elements, any thread count", "[optim][clip]") {
  auto make = [] {
    Tensor p = zeros({300, 200}).set_requires_grad();
    p.set_grad(testing::transposed_layout(testing::random({300, 200}, 21, DType::f32)));
    return p;
  };
  const int threads = num_threads();
  Tensor one = make(), two = make();
  const auto expected = testing::values(one.grad());
  set_num_threads(1);
  const double n1 = clip_grad_norm({one}, 1.0);
  set_num_threads(std::max(2, threads));
  const double n2 = clip_grad_norm({two}, 1.0);
  set_num_threads(threads);
  CHECK(n1 == n2);
  double sumsq = 0;
  for (double v : expected) sumsq += v * v;
  CHECK(n1 == Approx(std::sqrt(sumsq)).epsilon(1e-6));
  testing::require_close(one.grad(), two.grad(), 0.0, 0.0);
  CHECK(one.grad().is_contiguous());
  const auto got = testing::values(one.grad());
  const float coef = 1.0f / (static_cast<float>(n1) + 1e-6f);
  for (std::size_t i = 0; i < got.size(); i += 997) CHECK(got[i] == Approx(expected[i] * coef).epsilon(1e-6));
}

TEST_CASE("clip_grad_norm: non-finite norms, no gradients, bad arguments", "[optim][clip]") {
  Tensor a = param_with_grad({1.0, NAN});
  REQUIRE_THROWS_WITH(clip_grad_norm({a}, 1.0, 2.0, true), Contains("[clip_grad_norm]") && Contains("nan"));
  CHECK(std::isnan(clip_grad_norm({a}, 1.0)));  // without the flag: scaled by NaN, as torch does
  CHECK(std::isnan(a.grad().data<double>()[0]));
  Tensor inf = param_with_grad({INFINITY});
  REQUIRE_THROWS_WITH(clip_grad_norm({inf}, 1.0, 2.0, true), Contains("inf"));
  CHECK(clip_grad_norm({zeros({3}).set_requires_grad()}, 1.0) == 0.0);
  CHECK(clip_grad_norm({}, 1.0) == 0.0);
  REQUIRE_THROWS_WITH(clip_grad_norm({param_with_grad({1.0})}, 1.0, 0.0), Contains("norm_type"));
  REQUIRE_THROWS_WITH(clip_grad_norm({param_with_grad({1.0})}, -1.0), Contains("max_norm"));
  REQUIRE_THROWS_WITH(clip_grad_norm({Tensor()}, 1.0), Contains("parameter 0 is an undefined tensor"));
}
