// ops/rotary.hpp: rotary embedding gradients on several layouts and broadcasts, optimised vs
// reference kernels, the rotate-half convention, the cos/sin tables, and bad inputs.
#include "support/testing.hpp"

using namespace molm;
using molm::testing::gradcheck;

TEST_CASE("rotary: gradient in x, contiguous and strided, [T,D] and [B,1,T,D] tables", "[ops][rotary]") {
  const std::int64_t B = 2, H = 3, T = 4, D = 6;
  Tensor pos = from_vector<std::int64_t>({3, 0, 5, 1, 2, 7, 4, 9}, {B, T});
  for (int tables = 0; tables < 2; ++tables) {
    RotaryTables cs = tables == 0 ? rotary_cos_sin(arange(T), D, 10000.0, DType::f64)
                                  : rotary_cos_sin(pos, D, 10000.0, DType::f64);
    Tensor base = testing::random({B, H, T, D}, 1);
    for (int layout = 0; layout < 3; ++layout) {
      INFO("tables " << tables << " layout " << layout);
      Tensor x = layout == 0 ? base.clone() : layout == 1 ? testing::transposed_layout(base) : testing::sliced_layout(base);
      x.set_requires_grad();
      gradcheck([&](const std::vector<Tensor>& in) { return rotary_embedding(in[0], cs.cos, cs.sin); }, {x});
    }
  }
}

TEST_CASE("rotary: gradients in cos and sin, which need not repeat across the halves", "[ops][rotary]") {
  // Arbitrary tables (not HF's cat(f, f)) make the backward's use of sin_{d±h} observable.
  const std::int64_t B = 2, H = 2, T = 3, D = 4;
  for (bool reference : {false, true}) {
    backend::ReferenceGuard g(reference);
    Tensor x = testing::random({B, H, T, D}, 2).set_requires_grad();
    Tensor c = testing::random({T, D}, 3).set_requires_grad();
    Tensor s = testing::transposed_layout(testing::random({B, 1, T, D}, 4)).set_requires_grad();
    gradcheck([](const std::vector<Tensor>& in) { return rotary_embedding(in[0], in[1], in[2]); }, {x, c, s});
  }
}

TEST_CASE("rotary: optimised kernels equal the reference loops", "[ops][rotary]") {
  for (DType dt : {DType::f32, DType::bf16, DType::f64}) {
    INFO(name(dt));
    Tensor x = testing::random({2, 7, 5, 3, 16}, 5, dt).permute({0, 2, 1, 3, 4});  // strided [2,5,7,3,16]
    RotaryTables cs = rotary_cos_sin(arange(7), 16, 10000.0, dt);
    Tensor c = cs.cos.view({7, 1, 16}), s = cs.sin.view({7, 1, 16});
    Tensor g = testing::sliced_layout(testing::random({2, 5, 7, 3, 16}, 6, dt));
    const double rtol = dt == DType::bf16 ? 1e-2 : 1e-6;
    testing::require_matches_reference([&] { return rotary_embedding(x, c, s); }, rtol, 1e-6);
    testing::require_matches_reference([&] {
      Tensor xl = x.detach().set_requires_grad();
      rotary_embedding(xl, c, s).backward(g);
      return xl.grad();
    }, rtol, 1e-6);
  }
}

TEST_CASE("rotary: rotate-half convention and the relative-position property", "[ops][rotary]") {
  SECTION("cos = 0, sin = 1 gives cat(-x2, x1)") {
    Tensor x = from_vector<double>({1, 2, 3, 4, 5, 6});
    auto y = testing::values(rotary_embedding(x, zeros({6}, DType::f64), ones({6}, DType::f64)));
    CHECK(y == std::vector<double>{-4, -5, -6, 1, 2, 3});
  }
  SECTION("q·k after rotation depends only on the position difference") {
    const std::int64_t D = 8;
    Tensor q = testing::random({1, D}, 7), k = testing::random({1, D}, 8);
    auto score = [&](std::int64_t m, std::int64_t n) {
      RotaryTables a = rotary_cos_sin(from_vector<std::int64_t>({m}, {1}), D, 10000.0, DType::f64);
      RotaryTables b = rotary_cos_sin(from_vector<std::int64_t>({n}, {1}), D, 10000.0, DType::f64);
      return sum(mul(rotary_embedding(q, a.cos, a.sin), rotary_embedding(k, b.cos, b.sin))).item<double>();
    };
    CHECK(score(5, 2) == Approx(score(13, 10)).epsilon(1e-6));
    CHECK(score(0, 0) == Approx(sum(mul(q, k)).item<double>()).epsilon(1e-12));
  }
}

TEST_CASE("rotary: cos/sin tables", "[ops][rotary]") {
  const std::int64_t D = 8;
  RotaryTables t = rotary_cos_sin(arange(4), D);
  CHECK(t.cos.shape() == Shape{4, D});
  CHECK(t.cos.dtype() == DType::f32);
  auto c = testing::values(t.cos), s = testing::values(t.sin);
  for (std::int64_t i = 0; i < D; ++i) {  // position 0
    CHECK(c[i] == 1.0);
    CHECK(s[i] == 0.0);
  }
  // position 3, frequency index 1 (and its copy in the second half): θ_1 = 10000^(-2/8)
  const double theta = std::pow(10000.0, -0.25);
  CHECK(c[3 * D + 1] == Approx(std::cos(3 * theta)).epsilon(1e-6));
  CHECK(s[3 * D + 1 + D / 2] == Approx(std::sin(3 * theta)).epsilon(1e-6));
  RotaryTables b = rotary_cos_sin(from_vector<std::int64_t>({0, 1, 2, 3, 4, 5}, {2, 3}), D, 500.0, DType::bf16);
  CHECK(b.sin.shape() == Shape{2, 1, 3, D});
  CHECK(b.sin.dtype() == DType::bf16);
  CHECK(testing::values(b.sin)[(1 * 3 + 2) * D] == Approx(std::sin(5.0)).margin(4e-3));
}

TEST_CASE("rotary: bad inputs name the op and the shapes", "[ops][rotary][errors]") {
  Tensor x = testing::random({2, 3, 4, 6}, 1);
  RotaryTables t = rotary_cos_sin(arange(4), 6, 10000.0, DType::f64);
  auto op = Catch::Contains("[rotary_embedding]");
  REQUIRE_NOTHROW(rotary_embedding(x, t.cos, t.sin));
  REQUIRE_THROWS_WITH(rotary_embedding(testing::random({2, 3, 4, 5}, 1), t.cos, t.sin),
                      op && Catch::Contains("[2, 3, 4, 5]") && Catch::Contains("even"));
  REQUIRE_THROWS_WITH(rotary_embedding(x, t.cos.slice(0, 0, 3), t.sin),
                      op && Catch::Contains("[3, 6]") && Catch::Contains("[2, 3, 4, 6]"));
  REQUIRE_THROWS_WITH(rotary_embedding(x, t.cos, testing::random({5, 4, 6}, 2)),
                      op && Catch::Contains("[5, 4, 6]") && Catch::Contains("[2, 3, 4, 6]"));
  REQUIRE_THROWS_WITH(rotary_embedding(x, t.cos.to(DType::f32), t.sin), op && Catch::Contains("dtypes differ"));
  REQUIRE_THROWS_WITH(rotary_cos_sin(arange(4), 7), Catch::Contains("[rotary_cos_sin]") && Catch::Contains("even"));
  REQUIRE_THROWS_WITH(rotary_cos_sin(zeros({4}), 8), Catch::Contains("[rotary_cos_sin]") && Catch::Contains("i64"));
  REQUIRE_THROWS_WITH(rotary_cos_sin(zeros({1, 2, 3}, DType::i64), 8),
                      Catch::Contains("[rotary_cos_sin]") && Catch::Contains("[1, 2, 3]"));
}
