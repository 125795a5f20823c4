// ops/dropout.hpp: the mask is a pure function of (seed, offset, position): identical on 1 and 2
// threads and for any layout; the keep rate and scale are right; the gradient is mask · scale;
// consecutive calls differ; optimised == reference; bad p is rejected.
#include "support/testing.hpp"

#include <cmath>

using namespace molm;

namespace {
constexpr std::int64_t kN = 100'000;  // enough elements for the parallel path on 2 threads

/// Dropout of x with a fresh generator at (seed, offset).
Tensor dropout_at(const Tensor& x, double p, std::uint64_t seed, std::uint64_t offset = 0) {
  Generator g(seed);
  g.set_state(seed, offset);
  return dropout(x, p, true, g);
}

/// 1 where y kept the element, 0 where it dropped it (x must have no zeros).
std::vector<int> kept(const Tensor& y) {
  std::vector<int> m;
  for (double v : testing::values(y)) m.push_back(v != 0.0);
  return m;
}
}  // namespace

TEST_CASE("dropout: the same seed gives the same mask on 1 and on 2 threads", "[ops][dropout]") {
  const Tensor x = ones({kN}, DType::f32);
  const int before = num_threads();
  set_num_threads(1);
  const Tensor one = dropout_at(x, 0.3, 1234);
  set_num_threads(2);
  const Tensor two = dropout_at(x, 0.3, 1234);
  set_num_threads(before);
  testing::require_close(two, one, 0.0, 0.0);
  // and the same as the single-threaded reference loop
  backend::ReferenceGuard ref;
  testing::require_close(dropout_at(x, 0.3, 1234), one, 0.0, 0.0);
}

TEST_CASE("dropout: the mask follows the logical position, not the memory layout", "[ops][dropout]") {
  const Tensor x = testing::random({37, 41}, 3, DType::f64, 0.5, 1.5);
  const Tensor dense = dropout_at(x, 0.4, 7);
  testing::require_close(dropout_at(testing::transposed_layout(x), 0.4, 7), dense, 0.0, 0.0);
  testing::require_close(dropout_at(testing::sliced_layout(x), 0.4, 7), dense, 0.0, 0.0);
}

TEST_CASE("dropout: keep rate is 1-p within binomial tolerance and kept values are scaled by 1/(1-p)",
          "[ops][dropout]") {
  const Tensor x = testing::random({kN}, 5, DType::f32, 0.5, 1.5);
  const auto xv = testing::values(x);
  for (double p : {0.1, 0.5, 0.9}) {
    INFO("p " << p);
    const auto yv = testing::values(dropout_at(x, p, 99));
    std::int64_t n_kept = 0;
    for (std::size_t i = 0; i < yv.size(); ++i) {
      if (yv[i] == 0.0) continue;
      ++n_kept;
      REQUIRE(yv[i] == static_cast<double>(static_cast<float>(xv[i]) * static_cast<float>(1.0 / (1.0 - p))));
    }
    const double n = static_cast<double>(kN), sigma = std::sqrt(n * p * (1 - p));
    CHECK(std::abs(static_cast<double>(n_kept) - n * (1 - p)) < 5 * sigma);
  }
}

TEST_CASE("dropout: the gradient is mask / (1-p), from the same mask", "[ops][dropout]") {
  for (const Shape& shape : {Shape{kN}, Shape{13, 7, 11}}) {
    Tensor x = testing::random(shape, 8, DType::f64, 0.5, 1.5);
    x.set_requires_grad();
    Generator gen(42);
    Tensor y = dropout(x, 0.25, true, gen);
    y.backward(ones(shape, DType::f64));
    const auto m = kept(y);
    const auto g = testing::values(x.grad());
    for (std::size_t i = 0; i < m.size(); ++i) REQUIRE(g[i] == (m[i] ? 1.0 / 0.75 : 0.0));
  }
  // Finite differences agree too, on every layout (each evaluation reuses the same stream).
  const Tensor base = testing::random({6, 5}, 9, DType::f64);
  for (Tensor x : {base.clone(), testing::transposed_layout(base), testing::sliced_layout(base)}) {
    x.set_requires_grad();
    testing::gradcheck([](const std::vector<Tensor>& in) { return dropout_at(in[0], 0.3, 11, 4); }, {x});
  }
}

TEST_CASE("dropout: consecutive calls draw different masks; a restored state repeats one", "[ops][dropout]") {
  const Tensor x = ones({4096}, DType::f32);
  Generator gen(5);
  const Tensor first = dropout(x, 0.5, true, gen);
  CHECK(gen.offset() == 1);
  const Tensor second = dropout(x, 0.5, true, gen);
  CHECK(gen.offset() == 2);
  CHECK(kept(first) != kept(second));
  CHECK(kept(dropout_at(x, 0.5, 5, 1)) == kept(second));
  CHECK(kept(dropout_at(x, 0.5, 6, 0)) != kept(first));  // another seed, another mask
}

TEST_CASE("dropout: eval mode and p = 0 are the identity, p = 1 drops everything", "[ops][dropout]") {
  Tensor x = testing::random({3, 4}, 1);
  x.set_requires_grad();
  Generator gen(1);
  CHECK(dropout(x, 0.5, false, gen).is_same(x));
  CHECK(dropout(x, 0.0, true, gen).is_same(x));
  CHECK(gen.offset() == 0);  // nothing drawn

  Tensor y = dropout(x, 1.0, true, gen);
  CHECK(testing::values(y) == std::vector<double>(12, 0.0));
  y.backward(ones({3, 4}, DType::f64));
  CHECK(testing::values(x.grad()) == std::vector<double>(12, 0.0));
}

TEST_CASE("dropout: optimised kernel equals the reference loop exactly", "[ops][dropout]") {
  for (DType dt : {DType::f32, DType::bf16, DType::f64}) {
    INFO(name(dt));
    const Tensor x = testing::random({131, 157}, 12, dt);  // over twice the parallel grain
    for (const Tensor& xl : {x, testing::transposed_layout(x), testing::sliced_layout(x)})
      for (double p : {0.1, 0.5}) testing::require_matches_reference([&] { return dropout_at(xl, p, 77, 3); }, 0.0);
  }
}

TEST_CASE("dropout rejects a bad probability or a non-float tensor", "[ops][dropout][errors]") {
  Tensor x = testing::random({2, 3}, 1);
  Generator gen(1);
  for (double p : {-0.1, 1.5, std::nan("")})
    REQUIRE_THROWS_WITH(dropout(x, p, true, gen), Catch::Contains("[dropout]") && Catch::Contains("[0, 1]") &&
                                                      Catch::Contains("[2, 3]"));
  REQUIRE_THROWS_WITH(dropout(arange(4), 0.5, true, gen), Catch::Contains("[dropout]") && Catch::Contains("i64"));
}
