// ops/reduce.hpp: sum, mean, amax, max over dims with keepdim; sum_to.
#include "support/testing.hpp"

using namespace molm;
using molm::testing::gradcheck;

TEST_CASE("reductions: gradients over every dim combination and layout", "[ops][reduce]") {
  const std::vector<std::vector<std::int64_t>> dim_sets = {{}, {0}, {-1}, {0, 2}, {1}};
  for (const auto& dims : dim_sets) {
    for (bool keep : {false, true}) {
      for (int layout = 0; layout < 3; ++layout) {
        Tensor base = testing::random({3, 4, 5}, 9);
        Tensor x = layout == 0 ? base : layout == 1 ? testing::transposed_layout(base) : testing::sliced_layout(base);
        x.set_requires_grad();
        INFO("dims " << dims.size() << " keep " << keep << " layout " << layout);
        gradcheck([&](const std::vector<Tensor>& in) { return sum(in[0], dims, keep); }, {x});
        gradcheck([&](const std::vector<Tensor>& in) { return mean(in[0], dims, keep); }, {x});
        gradcheck([&](const std::vector<Tensor>& in) { return amax(in[0], dims, keep); }, {x});
      }
    }
  }
  Tensor x = testing::random({4, 6}, 4).set_requires_grad();
  gradcheck([](const std::vector<Tensor>& in) { return max(in[0], 1).first; }, {x});
  gradcheck([](const std::vector<Tensor>& in) { return max(in[0], 0, true).first; }, {x});
  gradcheck([](const std::vector<Tensor>& in) { return sum_to(in[0], {1, 6}); }, {x});
  gradcheck([](const std::vector<Tensor>& in) { return sum_to(in[0], {6}); }, {x});
}

TEST_CASE("reductions: values, ties, NaN", "[ops][reduce]") {
  Tensor x = from_vector<double>({1, 5, 5, 2, -1, 0}, {2, 3});
  REQUIRE(testing::values(sum(x, {1})) == std::vector<double>{11, 1});
  REQUIRE(testing::values(mean(x, {0}, true)) == std::vector<double>{1.5, 2, 2.5});
  REQUIRE(sum(x, {0}, true).shape() == Shape{1, 3});
  auto [v, i] = max(x, 1);
  REQUIRE(testing::values(v) == std::vector<double>{5, 2});
  REQUIRE(testing::values(i) == std::vector<double>{1, 0});  // first maximum
  REQUIRE(i.dtype() == DType::i64);
  // amax splits the gradient evenly between ties (PyTorch's rule).
  Tensor xr = x.clone().set_requires_grad();
  sum(amax(xr, {1})).backward();
  REQUIRE(testing::values(xr.grad()) == std::vector<double>{0, 0.5, 0.5, 1, 0, 0});
  Tensor n = from_vector<double>({1, NAN, 3}, {3});
  REQUIRE(std::isnan(amax(n).item<double>()));
  REQUIRE(sum(arange(5)).item<std::int64_t>() == 10);
}

TEST_CASE("reductions: f32 sums are accurate and the kernels match the reference", "[ops][reduce]") {
  // 1e6 ones plus a small value: naive float accumulation loses it, double accumulation keeps it.
  Tensor big = ones({1000001});
  big.narrow(0, 0, 1).fill_(0.125);
  REQUIRE(sum(big).item<double>() == 1000000.125);
  for (DType dt : {DType::f32, DType::bf16, DType::f64}) {
    Tensor x = testing::random({37, 129}, 3, dt);
    Tensor xt = testing::transposed_layout(testing::random({37, 129}, 4, dt));
    INFO(name(dt));
    const double tol = dt == DType::bf16 ? 1e-2 : 1e-6;
    testing::require_matches_reference([&] { return sum(x, {1}); }, tol, 1e-6);
    testing::require_matches_reference([&] { return mean(xt, {0}); }, tol, 1e-6);
    testing::require_matches_reference([&] { return amax(xt, {1}); }, 0.0);
    testing::require_matches_reference([&] { return max(x, 0).second; }, 0.0);
  }
}

TEST_CASE("reductions: bad dims are errors naming the op", "[ops][reduce]") {
  Tensor x = zeros({2, 3});
  REQUIRE_THROWS_WITH(sum(x, {2}), Catch::Contains("sum"));
  REQUIRE_THROWS_WITH(mean(x, {0, 0}), Catch::Contains("mean") && Catch::Contains("repeats"));
  REQUIRE_THROWS_WITH(amax(x, {-3}), Catch::Contains("amax"));
  REQUIRE_THROWS_WITH(sum_to(x, {4}), Catch::Contains("sum_to") && Catch::Contains("[2, 3]"));
  REQUIRE_THROWS_WITH(mean(arange(3)), Catch::Contains("mean"));
}

TEST_CASE("reductions: sums over leading dims (bias gradients) equal the reference bit for bit", "[ops][reduce]") {
  // The column-block kernel keeps each output's row order, so the result is identical, not just close.
  for (DType dt : {DType::f32, DType::f64}) {
    INFO(name(dt));
    const Tensor x = testing::random({7, 333, 300}, 11, dt, -2.0, 2.0);  // 300 columns: blocks of 256 and a tail
    testing::require_matches_reference([&] { return sum(x, {0}); }, 0.0);
    testing::require_matches_reference([&] { return sum(x, {0, 1}); }, 0.0);
    testing::require_matches_reference([&] { return mean(x, {0, 1}); }, 0.0);
    testing::require_matches_reference([&] { return sum(x, {0, 1}, true); }, 0.0);
    testing::require_matches_reference([&] { return sum(x.transpose(0, 2), {0}); }, 0.0);  // strided: other path
  }
}
