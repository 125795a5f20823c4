// ops/linalg.hpp: matmul and linear — values, finite-difference gradients (broadcast, 1-D, strided
// operands), optimised kernels against the reference loops, and bad input.
#include "support/testing.hpp"

using namespace molm;
using molm::testing::gradcheck;

namespace {

/// The three layouts every gradient test runs on: dense, transposed in memory, strided slice.
Tensor layout(const Tensor& base, int which) {
  Tensor t = which == 0 ? base.clone() : which == 1 ? testing::transposed_layout(base) : testing::sliced_layout(base);
  return t.detach();
}

Tensor leaf(const Shape& shape, std::uint64_t seed, int which) {
  Tensor t = layout(testing::random(shape, seed), which);
  t.set_requires_grad();
  return t;
}

/// Σ_k a[..., m, k]·b[..., k, n] by explicit broadcasting with elementwise ops (independent of matmul).
Tensor matmul_by_broadcast(const Tensor& a, const Tensor& b) {
  return sum(mul(a.unsqueeze(-1), b.unsqueeze(-3)), {-2});
}

}  // namespace

TEST_CASE("matmul: known 2-D product and torch's 1-D rules", "[ops][linalg]") {
  Tensor a = from_vector<double>({1, 2, 3, 4, 5, 6}, {2, 3});
  Tensor b = from_vector<double>({7, 8, 9, 10, 11, 12}, {3, 2});
  CHECK(testing::values(matmul(a, b)) == std::vector<double>{58, 64, 139, 154});

  Tensor v = from_vector<double>({1, 0, -1});
  Tensor dot = matmul(v, v);
  CHECK(dot.dim() == 0);
  CHECK(dot.item<double>() == 2.0);
  CHECK(matmul(a, v).shape() == Shape{2});  // [2, 3] @ [3] → [2]
  CHECK(testing::values(matmul(a, v)) == std::vector<double>{-2, -2});
  CHECK(matmul(v, b).shape() == Shape{2});  // [3] @ [3, 2] → [2]
  CHECK(matmul(v, testing::random({4, 3, 5}, 1)).shape() == Shape{4, 5});
  CHECK(matmul(testing::random({4, 2, 3}, 1), v).shape() == Shape{4, 2});
  CHECK(matmul(testing::random({2, 1, 3, 4}, 1), testing::random({5, 4, 2}, 2)).shape() == Shape{2, 5, 3, 2});
}

TEST_CASE("matmul: batched broadcast equals the explicit broadcast sum", "[ops][linalg]") {
  for (DType dt : {DType::f64, DType::f32}) {
    Tensor a = testing::random({2, 1, 3, 4}, 3, dt), b = testing::random({5, 4, 2}, 4, dt);
    testing::require_close(matmul(a, b), matmul_by_broadcast(a, b), 1e-6, 1e-6);
    Tensor c = testing::random({3, 4, 5}, 5, dt), w = testing::random({5, 6}, 6, dt);  // shared right operand
    testing::require_close(matmul(c, w), matmul_by_broadcast(c, w), 1e-6, 1e-6);
    Tensor d = testing::random({4, 5}, 7, dt), e = testing::random({2, 5, 3}, 8, dt);  // shared left operand
    testing::require_close(matmul(d, e), matmul_by_broadcast(d, e), 1e-6, 1e-6);
  }
}

TEST_CASE("matmul: gradients match finite differences", "[ops][linalg][grad]") {
  struct Case {
    Shape a, b;
  };
  const std::vector<Case> cases = {
      {{3, 4}, {4, 5}},
      {{4}, {4}},
      {{3, 4}, {4}},
      {{4}, {4, 5}},
      {{4}, {2, 4, 3}},
      {{2, 3, 4}, {4}},
      {{2, 3, 4}, {4, 5}},
      {{3, 4}, {2, 4, 5}},
      {{2, 1, 3, 4}, {5, 4, 2}},
      {{2, 3, 4}, {2, 4, 2}},
      {{1, 3, 4}, {3, 4, 2}},
  };
  for (const auto& c : cases)
    for (int la = 0; la < 3; ++la)
      for (int lb = 0; lb < 3; ++lb) {
        INFO(c.a.str() << " @ " << c.b.str() << " layouts " << la << ", " << lb);
        gradcheck([](const std::vector<Tensor>& in) { return matmul(in[0], in[1]); },
                  {leaf(c.a, 10, la), leaf(c.b, 11, lb)});
      }
}

TEST_CASE("matmul: gradient of one operand only, and of views of a larger tensor", "[ops][linalg][grad]") {
  Tensor a = leaf({3, 4}, 1, 0);
  Tensor b = testing::random({4, 2}, 2);  // no grad
  gradcheck([](const std::vector<Tensor>& in) { return matmul(in[0], in[1]); }, {a, b});
  // Operands that are slices and transposes taken inside f: the gradient flows through the views.
  Tensor big = leaf({6, 5}, 3, 0);
  gradcheck(
      [](const std::vector<Tensor>& in) {
        return matmul(in[0].slice(0, 0, 6, 2), in[0].slice(0, 1, 6, 2).transpose(0, 1));  // [3,5]@[5,3]
      },
      {big});
}

TEST_CASE("linear: gradients match finite differences with and without bias", "[ops][linalg][grad]") {
  for (int lx = 0; lx < 3; ++lx)
    for (int lw = 0; lw < 3; ++lw) {
      INFO("layouts x " << lx << " weight " << lw);
      Tensor x = leaf({2, 3, 4}, 20, lx), w = leaf({5, 4}, 21, lw), b = leaf({5}, 22, 0);
      gradcheck([](const std::vector<Tensor>& in) { return linear(in[0], in[1], in[2]); }, {x, w, b});
      gradcheck([](const std::vector<Tensor>& in) { return linear(in[0], in[1]); }, {x, w});
    }
  Tensor v = leaf({4}, 23, 0), w = leaf({3, 4}, 24, 0), b = leaf({3}, 25, 0);  // 1-D input
  gradcheck([](const std::vector<Tensor>& in) { return linear(in[0], in[1], in[2]); }, {v, w, b});
}

TEST_CASE("linear: equals x·Wᵀ + b from matmul", "[ops][linalg]") {
  Tensor x = testing::random({2, 3, 4}, 30), w = testing::random({5, 4}, 31), b = testing::random({5}, 32);
  Tensor y = linear(x, w, b);
  CHECK(y.shape() == Shape{2, 3, 5});
  testing::require_close(y, add(matmul(x, w.transpose(0, 1)), b), 1e-12, 1e-12);
  testing::require_close(linear(x, w), matmul(x, w.transpose(0, 1)), 1e-12, 1e-12);
}

TEST_CASE("matmul and linear: optimised kernels equal the reference loops", "[ops][linalg]") {
  struct Case {
    Shape a, b;
  };
  const std::vector<Case> cases = {
      {{37, 65}, {65, 23}}, {{3, 17, 33}, {33, 9}}, {{2, 1, 9, 16}, {3, 16, 7}}, {{64}, {64, 5}}};
  for (DType dt : {DType::f32, DType::f64, DType::bf16, DType::f16}) {
    const double rtol = dt == DType::bf16 ? 1e-2 : dt == DType::f16 ? 2e-3 : 1e-5;
    for (const auto& c : cases)
      for (int la = 0; la < 3; ++la)
        for (int lb = 0; lb < 3; ++lb) {
          INFO(name(dt) << " " << c.a.str() << " @ " << c.b.str() << " layouts " << la << ", " << lb);
          Tensor a = layout(testing::random(c.a, 40, dt), la), b = layout(testing::random(c.b, 41, dt), lb);
          testing::require_matches_reference([&] { return matmul(a, b); }, rtol, rtol);
        }
    Tensor x = testing::random({4, 6, 32}, 42, dt), w = testing::random({16, 32}, 43, dt),
           b = testing::random({16}, 44, dt);
    testing::require_matches_reference([&] { return linear(x, w, b); }, rtol, rtol);
    testing::require_matches_reference(
        [&] { return linear(testing::transposed_layout(x), w.transpose(0, 1).contiguous().transpose(0, 1)); }, rtol,
        rtol);
  }
}

TEST_CASE("matmul: bf16 inputs with an f32 result, and its bf16 gradients", "[ops][linalg]") {
  Tensor a = testing::random({5, 32}, 50, DType::bf16), b = testing::random({32, 6}, 51, DType::bf16);
  Tensor y = matmul(a, b, DType::f32);
  CHECK(y.dtype() == DType::f32);
  // bf16 values are exact in f64, so the f32 result must be within f32 rounding of the f64 product.
  testing::require_close(y, matmul(a.to(DType::f64), b.to(DType::f64)), 1e-5, 1e-5);
  testing::require_matches_reference([&] { return matmul(a, b, DType::f32); }, 1e-5, 1e-5);

  Tensor la = a.clone(), lb = b.clone();
  la.set_requires_grad();
  lb.set_requires_grad();
  sum(matmul(la, lb, DType::f32)).backward();
  REQUIRE(la.grad().dtype() == DType::bf16);
  REQUIRE(lb.grad().dtype() == DType::bf16);
  // d Σ(AB) / dA = 1·Bᵀ: each row of dA is the row sums of B.
  testing::require_close(la.grad(), matmul(ones({5, 6}, DType::f64), b.to(DType::f64).transpose(0, 1)), 1e-2, 1e-2);
  testing::require_close(lb.grad(), matmul(a.to(DType::f64).transpose(0, 1), ones({5, 6}, DType::f64)), 1e-2, 1e-2);
}

TEST_CASE("matmul and linear: empty dimensions", "[ops][linalg]") {
  for (DType dt : {DType::f32, DType::f64}) {
    CHECK(matmul(zeros({0, 3}, dt), zeros({3, 4}, dt)).shape() == Shape{0, 4});
    Tensor z = matmul(ones({2, 0}, dt), ones({0, 3}, dt));  // empty sum
    CHECK(testing::values(z) == std::vector<double>(6, 0.0));
    Tensor y = linear(ones({2, 0}, dt), ones({3, 0}, dt), full({3}, 1.5, dt));
    CHECK(testing::values(y) == std::vector<double>(6, 1.5));
  }
}

TEST_CASE("matmul and linear reject bad input, naming the op and the shapes", "[ops][linalg][errors]") {
  Tensor a = testing::random({2, 3}, 1), b = testing::random({4, 5}, 2);
  REQUIRE_THROWS_WITH(matmul(a, b),
                      Catch::Contains("[matmul]") && Catch::Contains("[2, 3]") && Catch::Contains("[4, 5]"));
  REQUIRE_THROWS_WITH(matmul(testing::random({3}, 1), testing::random({4}, 1)),
                      Catch::Contains("[matmul]") && Catch::Contains("[3]") && Catch::Contains("[4]"));
  REQUIRE_THROWS_WITH(matmul(testing::random({2, 2, 3}, 1), testing::random({3, 3, 4}, 1)),
                      Catch::Contains("[matmul]") && Catch::Contains("[2]") && Catch::Contains("[3]"));
  REQUIRE_THROWS_WITH(matmul(a, testing::random({3, 4}, 1, DType::f32)),
                      Catch::Contains("[matmul]") && Catch::Contains("f64") && Catch::Contains("f32"));
  REQUIRE_THROWS_WITH(matmul(a, testing::random({3, 4}, 1), DType::f32), Catch::Contains("[matmul]"));
  REQUIRE_THROWS_WITH(matmul(scalar_tensor(1.0, DType::f64), a), Catch::Contains("[matmul]"));
  REQUIRE_THROWS_WITH(matmul(arange(3), arange(3)), Catch::Contains("[matmul]") && Catch::Contains("floating"));

  Tensor x = testing::random({2, 3, 4}, 3), w = testing::random({5, 3}, 4);
  REQUIRE_THROWS_WITH(linear(x, w),
                      Catch::Contains("[linear]") && Catch::Contains("[2, 3, 4]") && Catch::Contains("[5, 3]"));
  REQUIRE_THROWS_WITH(linear(x, testing::random({5, 4}, 4), testing::random({4}, 5)),
                      Catch::Contains("[linear]") && Catch::Contains("[4]") && Catch::Contains("[5, 4]"));
  REQUIRE_THROWS_WITH(linear(x, testing::random({5, 4}, 4, DType::f32)), Catch::Contains("[linear]"));
  REQUIRE_THROWS_AS(linear(x, testing::random({4}, 4)), molm::error);
}
