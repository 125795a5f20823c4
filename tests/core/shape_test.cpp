#include "support/testing.hpp"

using namespace molm;

TEST_CASE("shape arithmetic", "[core][shape]") {
  REQUIRE(Shape{2, 3, 4}.numel() == 24);
  REQUIRE(Shape{}.numel() == 1);
  REQUIRE(Shape{3, 0, 2}.numel() == 0);
  REQUIRE(contiguous_strides({2, 3, 4}) == Shape{12, 4, 1});
  REQUIRE(wrap_dim(-1, 3, "op") == 2);
  REQUIRE_THROWS_WITH(wrap_dim(3, 3, "sum"), Catch::Contains("sum"));
  REQUIRE(broadcast_shapes({4, 1, 3}, {5, 1}, "add") == Shape{4, 5, 3});
  REQUIRE(broadcast_shapes({}, {2, 2}, "add") == Shape{2, 2});
  REQUIRE_THROWS_WITH(broadcast_shapes({2, 3}, {4, 3}, "add"),
                      Catch::Contains("add") && Catch::Contains("[2, 3]") && Catch::Contains("[4, 3]"));
}

TEST_CASE("shape limits are enforced", "[core][shape]") {
  REQUIRE_NOTHROW(Shape{1, 1, 1, 1, 1, 1, 1, 1});
  REQUIRE_THROWS_AS((Shape{1, 1, 1, 1, 1, 1, 1, 1, 1}), molm::error);
  REQUIRE_THROWS_AS((Shape{std::int64_t{1} << 40, std::int64_t{1} << 40}.numel()), molm::error);
  REQUIRE_THROWS_AS(Tensor::empty({-1, 2}), molm::error);
}

TEST_CASE("counter-based random numbers depend only on (seed, offset, index)", "[core][random]") {
  REQUIRE(philox_uniform(1, 0, 5) == philox_uniform(1, 0, 5));
  REQUIRE(philox_uniform(1, 0, 5) != philox_uniform(2, 0, 5));
  REQUIRE(philox_uniform(1, 0, 5) != philox_uniform(1, 1, 5));
  double sum = 0, sq = 0;
  const int n = 200000;
  for (int i = 0; i < n; ++i) {
    const double u = philox_uniform(42, 0, static_cast<std::uint64_t>(i));
    REQUIRE(u >= 0.0);
    REQUIRE(u < 1.0);
    sum += u;
    const double z = philox_normal(42, 0, static_cast<std::uint64_t>(i));
    sq += z * z;
  }
  // Mean of U(0,1) has sd 1/sqrt(12 n) ≈ 6.5e-4; E[z²] = 1 with sd sqrt(2/n) ≈ 3.2e-3: 5-sigma bounds.
  REQUIRE(std::abs(sum / n - 0.5) < 5 * 6.5e-4);
  REQUIRE(std::abs(sq / n - 1.0) < 5 * 3.2e-3);
}

TEST_CASE("seeded factories reproduce and advance", "[core][random]") {
  Generator g1(7), g2(7);
  const Tensor a = randn({100}, g1), b = randn({100}, g2);
  testing::require_close(a, b, 0.0);
  const Tensor c = randn({100}, g1);  // the generator advanced: a fresh draw
  REQUIRE(testing::closeness(a, c, 0.0, 1e-3) > 1.0);
  const auto r = testing::values(randint(3, 9, {1000}, g1));
  for (double v : r) {
    REQUIRE(v >= 3);
    REQUIRE(v < 9);
  }
}

TEST_CASE("thread count honours set_num_threads", "[core][threads]") {
  const int before = num_threads();
  REQUIRE(before >= 1);
  set_num_threads(1);
  REQUIRE(num_threads() == 1);
  set_num_threads(before);
  REQUIRE(num_threads() == before);
  REQUIRE_THROWS_AS(set_num_threads(0), molm::error);
}
