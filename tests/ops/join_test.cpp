// ops/join.hpp: cat and stack. Known values, finite-difference gradients on mixed layouts,
// optimised == reference (bit-exact for every dtype: it is a copy), and bad input.
#include "support/testing.hpp"

using namespace molm;
using molm::testing::gradcheck;

namespace {
/// Input k of a test in layout k % 3: dense, transposed, strided slice.
Tensor in_layout(const Tensor& base, std::size_t k) {
  if (k % 3 == 0) return base.clone();
  return k % 3 == 1 ? testing::transposed_layout(base) : testing::sliced_layout(base);
}
}  // namespace

TEST_CASE("cat and stack: known values", "[ops][join]") {
  Tensor a = from_vector<double>({1, 2, 3, 4}, {2, 2});
  Tensor b = from_vector<double>({5, 6}, {2, 1});
  CHECK(testing::values(cat({a, b}, 1)) == std::vector<double>{1, 2, 5, 3, 4, 6});
  CHECK(testing::values(cat({a, b.transpose(0, 1)}, 0)) == std::vector<double>{1, 2, 3, 4, 5, 6});
  CHECK(cat({a, a, a}, -2).shape() == Shape{6, 2});
  CHECK(cat({a}, 0).shape() == Shape{2, 2});
  CHECK(cat({a, Tensor::empty({0, 2}, DType::f64)}, 0).shape() == Shape{2, 2});

  Tensor c = from_vector<double>({7, 8, 9, 10}, {2, 2});
  CHECK(stack({a, c}, 0).shape() == Shape{2, 2, 2});
  CHECK(testing::values(stack({a, c}, 1)) == std::vector<double>{1, 2, 7, 8, 3, 4, 9, 10});
  CHECK(testing::values(stack({a, c}, -1)) == std::vector<double>{1, 7, 2, 8, 3, 9, 4, 10});
  CHECK(testing::values(stack({scalar_tensor(1.0, DType::f64), scalar_tensor(2.0, DType::f64)})) ==
        std::vector<double>{1, 2});
  // Integers and bools join too.
  CHECK(testing::values(cat({arange(3), arange(2)})) == std::vector<double>{0, 1, 2, 0, 1});
}

TEST_CASE("cat: gradients match finite differences on mixed layouts", "[ops][join]") {
  struct Case {
    std::vector<Shape> shapes;
    std::int64_t dim;
  };
  const std::vector<Case> cases{
      {{{2, 3}, {4, 3}, {1, 3}}, 0},
      {{{2, 1}, {2, 4}}, 1},
      {{{3, 2}, {3, 3}, {3, 1}}, -1},
      {{{2, 1, 4}, {2, 3, 4}, {2, 2, 4}}, 1},
      {{{5}, {2}}, 0},
  };
  for (const auto& c : cases) {
    for (std::size_t rotate = 0; rotate < 3; ++rotate) {  // every input meets every layout
      std::vector<Tensor> xs;
      for (std::size_t k = 0; k < c.shapes.size(); ++k) {
        Tensor x = in_layout(testing::random(c.shapes[k], 20 + k), k + rotate);
        x.set_requires_grad();
        xs.push_back(x);
      }
      INFO("dim " << c.dim << " first shape " << c.shapes[0].str() << " rotation " << rotate);
      gradcheck([&](const std::vector<Tensor>& in) { return cat(in, c.dim); }, xs);
    }
  }
}

TEST_CASE("cat: inputs that do not require grad get none", "[ops][join]") {
  Tensor a = testing::random({2, 3}, 1), b = testing::random({1, 3}, 2);
  a.set_requires_grad();
  Tensor y = cat({a, b, a}, 0);
  y.backward(testing::random({5, 3}, 3));
  REQUIRE(a.grad().defined());
  CHECK_FALSE(b.grad().defined());
  // a appears twice: its gradient is the sum of both slices.
  auto g = testing::values(testing::random({5, 3}, 3));
  auto da = testing::values(a.grad());
  for (std::size_t i = 0; i < 6; ++i) CHECK(da[i] == Approx(g[i] + g[9 + i]).epsilon(1e-14));
}

TEST_CASE("stack: gradients match finite differences on mixed layouts", "[ops][join]") {
  for (const Shape& shape : {Shape{4}, Shape{2, 3}, Shape{2, 3, 2}}) {
    for (std::int64_t dim = -(shape.size() + 1); dim <= shape.size(); ++dim) {
      std::vector<Tensor> xs;
      for (std::size_t k = 0; k < 3; ++k) {
        Tensor x = in_layout(testing::random(shape, 30 + k), k);
        x.set_requires_grad();
        xs.push_back(x);
      }
      INFO("shape " << shape.str() << " dim " << dim);
      gradcheck([&](const std::vector<Tensor>& in) { return stack(in, dim); }, xs);
    }
  }
}

TEST_CASE("cat and stack: optimised kernels equal the reference loops exactly", "[ops][join]") {
  for (DType dt : {DType::f32, DType::bf16, DType::f64, DType::i64, DType::boolean}) {
    INFO(name(dt));
    std::vector<Tensor> parts;  // 5 inputs, 16 x 7..27 x 40: enough elements for the parallel path
    for (std::size_t k = 0; k < 5; ++k) {
      Tensor x = testing::random({16, static_cast<std::int64_t>(7 + 5 * k), 40}, 40 + k, DType::f32, -50, 50);
      x = dt == DType::boolean ? gt(x, zeros({}, DType::f32)) : x.to(dt);
      parts.push_back(in_layout(x, k));
    }
    testing::require_matches_reference([&] { return cat(parts, 1); }, 0.0);
    std::vector<Tensor> same;
    for (std::size_t k = 0; k < 4; ++k) same.push_back(in_layout(parts[4], k));
    testing::require_matches_reference([&] { return stack(same, 2); }, 0.0);
    // Many small inputs share one parallel region.
    std::vector<Tensor> many(64, parts[1].narrow(1, 0, 2));
    testing::require_matches_reference([&] { return cat(many, 0); }, 0.0);
  }
}

TEST_CASE("cat and stack reject bad input with messages naming the op and every shape", "[ops][join][errors]") {
  Tensor a = testing::random({2, 3}, 1), b = testing::random({4, 3}, 2), c = testing::random({2, 5}, 3);
  REQUIRE_THROWS_WITH(cat({a, b, c}, 0), Catch::Contains("[cat]") && Catch::Contains("[2, 3]") &&
                                             Catch::Contains("[4, 3]") && Catch::Contains("[2, 5]") &&
                                             Catch::Contains("tensor 2 differs in dimension 1"));
  REQUIRE_THROWS_WITH(cat({a, a.to(DType::f32)}, 0),
                      Catch::Contains("[cat]") && Catch::Contains("dtype") && Catch::Contains("[2, 3] f64") &&
                          Catch::Contains("[2, 3] f32"));
  REQUIRE_THROWS_WITH(cat({a, testing::random({2, 3, 1}, 4)}, 0),
                      Catch::Contains("[cat]") && Catch::Contains("number of dimensions") &&
                          Catch::Contains("[2, 3, 1]"));
  REQUIRE_THROWS_WITH(cat({}, 0), Catch::Contains("[cat]") && Catch::Contains("at least one"));
  REQUIRE_THROWS_WITH(cat({a, b}, 2), Catch::Contains("[cat]") && Catch::Contains("dimension 2") &&
                                          Catch::Contains("[4, 3]"));
  REQUIRE_THROWS_WITH(cat({scalar_tensor(1.0), scalar_tensor(2.0)}, 0),
                      Catch::Contains("[cat]") && Catch::Contains("zero-dimensional"));
  REQUIRE_THROWS_WITH(cat({a, Tensor()}, 0), Catch::Contains("[cat]") && Catch::Contains("undefined"));

  REQUIRE_THROWS_WITH(stack({a, b}, 0), Catch::Contains("[stack]") && Catch::Contains("same shape") &&
                                            Catch::Contains("[2, 3]") && Catch::Contains("[4, 3]"));
  REQUIRE_THROWS_WITH(stack({a, a}, 3), Catch::Contains("[stack]") && Catch::Contains("dimension 3"));
  REQUIRE_THROWS_WITH(stack({a, a.to(DType::bf16)}, 0), Catch::Contains("[stack]") && Catch::Contains("bf16"));
}
