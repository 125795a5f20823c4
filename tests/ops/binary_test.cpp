// ops/binary.hpp: broadcasting arithmetic, comparisons, gradients (reduced to each input's shape).
#include "support/testing.hpp"

using namespace molm;
using molm::testing::gradcheck;

namespace {
struct BinaryCase {
  const char* name;
  std::function<Tensor(const Tensor&, const Tensor&)> f;
  double low, high;
};
std::vector<BinaryCase> binary_cases() {
  return {
      {"add", [](const Tensor& a, const Tensor& b) { return a + b; }, -2, 2},
      {"sub", [](const Tensor& a, const Tensor& b) { return a - b; }, -2, 2},
      {"mul", [](const Tensor& a, const Tensor& b) { return a * b; }, -2, 2},
      {"div", [](const Tensor& a, const Tensor& b) { return a / b; }, 0.5, 2},
  };
}
// Pairs of shapes that broadcast: same, scalar-like, middle, leading, both sides.
std::vector<std::pair<Shape, Shape>> shape_pairs() {
  return {{{3, 4}, {3, 4}}, {{3, 4}, {}}, {{2, 3, 4}, {3, 1}}, {{4}, {2, 3, 4}}, {{2, 1, 4}, {1, 3, 1}}};
}
}  // namespace

TEST_CASE("binary ops: gradients with broadcasting and strided inputs", "[ops][binary]") {
  for (const auto& c : binary_cases()) {
    for (const auto& [sa, sb] : shape_pairs()) {
      for (int layout = 0; layout < 3; ++layout) {
        auto lay = [&](Tensor t) {
          if (layout == 1 && t.dim() >= 2) return testing::transposed_layout(t);
          if (layout == 2 && t.dim() >= 1) return testing::sliced_layout(t);
          return t;
        };
        Tensor a = lay(testing::random(sa, 1, DType::f64, c.low, c.high)).set_requires_grad();
        Tensor b = lay(testing::random(sb, 2, DType::f64, c.low, c.high)).set_requires_grad();
        INFO(c.name << " " << sa.str() << " " << sb.str() << " layout " << layout);
        gradcheck([&](const std::vector<Tensor>& in) { return c.f(in[0], in[1]); }, {a, b});
      }
    }
  }
}

TEST_CASE("binary ops with scalars: gradients", "[ops][binary]") {
  Tensor x = testing::random({3, 4}, 3, DType::f64, 0.5, 2).set_requires_grad();
  gradcheck([](const std::vector<Tensor>& in) { return in[0] * 3.0 + 1.5; }, {x});
  gradcheck([](const std::vector<Tensor>& in) { return 2.0 - in[0] / 4.0; }, {x});
  gradcheck([](const std::vector<Tensor>& in) { return 2.0 / in[0]; }, {x});
  gradcheck([](const std::vector<Tensor>& in) { return -in[0]; }, {x});
}

TEST_CASE("binary ops: optimised kernels equal the reference loops", "[ops][binary]") {
  for (const auto& c : binary_cases()) {
    for (DType dt : {DType::f32, DType::bf16, DType::f64}) {
      Tensor a = testing::random({33, 65}, 5, dt, c.low, c.high);
      Tensor b = testing::random({65}, 6, dt, c.low, c.high);
      Tensor at = testing::transposed_layout(testing::random({65, 33}, 7, dt, c.low, c.high)).transpose(0, 1);
      INFO(c.name << " " << name(dt));
      // Both kernels compute in the same precision, so they agree to the last bit.
      testing::require_matches_reference([&] { return c.f(a, b); }, 0.0);
      testing::require_matches_reference([&] { return c.f(at, b.unsqueeze(0)); }, 0.0);
    }
  }
  Tensor i = arange(10, DType::i64);
  REQUIRE(testing::values(i * i)[9] == 81.0);
  REQUIRE(testing::values(i - i)[5] == 0.0);
}

TEST_CASE("comparisons give bool tensors", "[ops][binary]") {
  Tensor a = from_vector<double>({1, 2, 3}, {3});
  Tensor b = from_vector<double>({3, 2, 1}, {3});
  REQUIRE(lt(a, b).dtype() == DType::boolean);
  REQUIRE(testing::values(lt(a, b)) == std::vector<double>{1, 0, 0});
  REQUIRE(testing::values(le(a, b)) == std::vector<double>{1, 1, 0});
  REQUIRE(testing::values(eq(a, b)) == std::vector<double>{0, 1, 0});
  REQUIRE(testing::values(ne(a, b)) == std::vector<double>{1, 0, 1});
  REQUIRE(testing::values(gt(a, b)) == std::vector<double>{0, 0, 1});
  REQUIRE(testing::values(ge(a, b.unsqueeze(1))).size() == 9);
}

TEST_CASE("binary ops: bad input names the op and both shapes", "[ops][binary]") {
  Tensor a = zeros({2, 3}), b = zeros({4, 3});
  REQUIRE_THROWS_WITH(add(a, b), Catch::Contains("add") && Catch::Contains("[2, 3]") && Catch::Contains("[4, 3]"));
  REQUIRE_THROWS_WITH(mul(a, zeros({2, 3}, DType::f64)),
                      Catch::Contains("mul") && Catch::Contains("f32") && Catch::Contains("f64"));
  REQUIRE_THROWS_WITH(div(arange(3), arange(3)), Catch::Contains("div"));
  REQUIRE_THROWS_AS(add(a, Tensor()), molm::error);
}
