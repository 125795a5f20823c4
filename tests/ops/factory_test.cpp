// ops/factory.hpp: constant, range and seeded random tensors.
#include "support/testing.hpp"

using namespace molm;

TEST_CASE("constant and range factories", "[ops][factory]") {
  REQUIRE(testing::values(full({2, 2}, 1.5, DType::bf16)) == std::vector<double>{1.5, 1.5, 1.5, 1.5});
  REQUIRE(zeros({3}, DType::i32).dtype() == DType::i32);
  REQUIRE(testing::values(ones_like(zeros({2}, DType::f16))) == std::vector<double>{1, 1});
  REQUIRE(testing::values(arange(0.0, 1.0, 0.25, DType::f64)) == std::vector<double>{0, 0.25, 0.5, 0.75});
  REQUIRE(testing::values(arange(5.0, 0.0, -2.0)) == std::vector<double>{5, 3, 1});
  REQUIRE(arange(0).numel() == 0);
  REQUIRE(scalar_tensor(3.0).dim() == 0);
  REQUIRE_THROWS_WITH(arange(0.0, 1.0, 0.0), Catch::Contains("arange"));
  REQUIRE_THROWS_WITH(from_vector<float>({1, 2, 3}, {2, 2}), Catch::Contains("from_vector") && Catch::Contains("[2, 2]"));
}

TEST_CASE("random factories are reproducible and independent of the thread count", "[ops][factory]") {
  const int before = num_threads();
  Generator g1(99);
  set_num_threads(1);
  Tensor a = randn({257, 33}, g1, DType::f64);
  set_num_threads(std::max(2, before));
  Generator g2(99);
  Tensor b = randn({257, 33}, g2, DType::f64);
  set_num_threads(before);
  testing::require_close(a, b, 0.0);
  Generator g3(5);
  Tensor u = rand({10000}, g3, DType::f32, -2.0, 3.0);
  const auto v = testing::values(u);
  for (double x : v) {
    REQUIRE(x >= -2.0);
    REQUIRE(x < 3.0);
  }
  REQUIRE(mean(u.to(DType::f64)).item<double>() == Approx(0.5).margin(5 * 5.0 / std::sqrt(12.0 * 10000)));
  REQUIRE_THROWS_WITH(randint(3, 3, {2}, g3), Catch::Contains("randint"));
}
