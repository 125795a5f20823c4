// ops/select.hpp: masked_fill and where. Known values, finite-difference gradients with broadcasting
// of every operand and non-contiguous layouts, optimised == reference (bit-exact), and bad input.
#include "support/testing.hpp"

using namespace molm;
using molm::testing::gradcheck;

namespace {
/// A reproducible bool mask of `shape` (about half true).
Tensor random_mask(const Shape& shape, std::uint64_t seed) {
  return gt(testing::random(shape, seed, DType::f32), zeros({}, DType::f32));
}

Tensor layout(const Tensor& base, int k) {
  if (k == 0) return base.clone();
  return k == 1 ? testing::transposed_layout(base) : testing::sliced_layout(base);
}

Tensor bools(const std::vector<bool>& v, Shape shape = {}) {
  Tensor t = Tensor::empty(shape.empty() ? Shape{static_cast<std::int64_t>(v.size())} : shape, DType::boolean);
  for (std::size_t i = 0; i < v.size(); ++i) t.data<bool>()[i] = v[i];
  return t;
}
}  // namespace

TEST_CASE("masked_fill and where: known values", "[ops][select]") {
  Tensor x = from_vector<double>({1, 2, 3, 4, 5, 6}, {2, 3});
  Tensor row = bools({true, false, true});
  CHECK(testing::values(masked_fill(x, row, -9)) == std::vector<double>{-9, 2, -9, -9, 5, -9});
  auto inf = testing::values(masked_fill(x.to(DType::bf16), bools({false, true}, {2, 1}), -INFINITY));
  CHECK(inf[0] == 1.0);
  CHECK(std::isinf(inf[3]));
  CHECK(inf[3] < 0);
  // mask broadcasts x up: [3] x, [2, 1] mask -> [2, 3]
  CHECK(testing::values(masked_fill(from_vector<double>({1, 2, 3}), bools({true, false}, {2, 1}), 0)) ==
        std::vector<double>{0, 0, 0, 1, 2, 3});

  Tensor y = from_vector<double>({10, 20, 30, 40, 50, 60}, {2, 3});
  CHECK(testing::values(where(row, x, y)) == std::vector<double>{1, 20, 3, 4, 50, 6});
  // a scalar-shaped b and a column condition broadcast against a [2, 3] a.
  CHECK(testing::values(where(bools({true, false}, {2, 1}), x, scalar_tensor(0.0, DType::f64))) ==
        std::vector<double>{1, 2, 3, 0, 0, 0});
  CHECK(testing::values(where(row, arange(3), arange(3) * 10.0)) == std::vector<double>{0, 10, 2});
}

TEST_CASE("masked_fill: gradients match finite differences with broadcasting and strided layouts",
          "[ops][select]") {
  struct Case {
    Shape x, mask;
  };
  const std::vector<Case> cases{{{3, 4}, {3, 4}}, {{3, 4}, {4}}, {{3, 4}, {3, 1}}, {{4}, {3, 4}},
                                {{2, 1, 4}, {3, 1}}, {{5}, {}}};
  for (const auto& c : cases)
    for (int lx = 0; lx < 3; ++lx)
      for (int lm = 0; lm < 2; ++lm) {
        Tensor x = layout(testing::random(c.x, 50), lx);
        x.set_requires_grad();
        const Tensor mask = layout(random_mask(c.mask, 51), lm);
        INFO("x " << c.x.str() << " mask " << c.mask.str() << " layouts " << lx << lm);
        gradcheck([&](const std::vector<Tensor>& in) { return masked_fill(in[0], mask, 7.5); }, {x});
      }
}

TEST_CASE("masked_fill: filled positions get zero gradient", "[ops][select]") {
  Tensor x = testing::random({2, 3}, 1);
  x.set_requires_grad();
  masked_fill(x, bools({true, false, true}), 0).backward(ones({2, 3}, DType::f64));
  CHECK(testing::values(x.grad()) == std::vector<double>{0, 1, 0, 0, 1, 0});
}

TEST_CASE("where: gradients match finite differences with broadcasting of all three operands",
          "[ops][select]") {
  struct Case {
    Shape cond, a, b;
  };
  const std::vector<Case> cases{{{3, 4}, {3, 4}, {3, 4}}, {{3, 4}, {4}, {3, 1}}, {{1, 4}, {3, 4}, {}},
                                {{3, 1}, {1, 4}, {3, 4}}, {{2, 3, 1}, {3, 4}, {2, 1, 4}}, {{4}, {3, 1}, {1}}};
  for (const auto& c : cases)
    for (int l = 0; l < 3; ++l) {
      Tensor a = layout(testing::random(c.a, 60), l);
      Tensor b = layout(testing::random(c.b, 61), (l + 1) % 3);
      a.set_requires_grad();
      b.set_requires_grad();
      const Tensor cond = layout(random_mask(c.cond, 62), l % 2);
      INFO("cond " << c.cond.str() << " a " << c.a.str() << " b " << c.b.str() << " layout " << l);
      gradcheck([&](const std::vector<Tensor>& in) { return where(cond, in[0], in[1]); }, {a, b});
    }
  // Only one side needs a gradient.
  Tensor a = testing::random({3, 4}, 63);
  a.set_requires_grad();
  gradcheck([&](const std::vector<Tensor>& in) { return where(random_mask({3, 4}, 64), in[0], in[1]); },
            {a, testing::random({4}, 65)});
}

TEST_CASE("masked_fill and where: optimised kernels equal the reference loops exactly", "[ops][select]") {
  for (DType dt : {DType::f32, DType::bf16, DType::f64, DType::i64}) {
    INFO(name(dt));
    const Tensor a = testing::random({40, 1, 129}, 70, DType::f32, -50, 50).to(dt);
    const Tensor b = testing::transposed_layout(testing::random({40, 9, 129}, 71, DType::f32, -50, 50).to(dt));
    const Tensor cond = testing::sliced_layout(random_mask({9, 129}, 72));
    testing::require_matches_reference([&] { return where(cond, a, b); }, 0.0);
    testing::require_matches_reference([&] { return masked_fill(b, cond, -3); }, 0.0);
    // The backward is a masked fill plus a broadcast sum: compare it too.
    if (is_floating(dt)) {
      auto grads = [&] {
        Tensor la = a.detach().clone(), lb = b.detach().clone();
        la.set_requires_grad();
        lb.set_requires_grad();
        Tensor y = where(cond, la, lb);
        y.backward(testing::random(y.shape(), 73, dt));
        return cat({la.grad().flatten(), lb.grad().flatten()}, 0);
      };
      testing::require_matches_reference(grads, dt == DType::bf16 ? 1e-2 : 1e-6, 1e-6);
    }
  }
}

TEST_CASE("masked_fill and where reject bad input with messages naming the op and the shapes",
          "[ops][select][errors]") {
  Tensor x = testing::random({2, 3}, 1);
  REQUIRE_THROWS_WITH(masked_fill(x, bools({true, false}), 0),
                      Catch::Contains("[masked_fill]") && Catch::Contains("[2, 3]") && Catch::Contains("[2]"));
  REQUIRE_THROWS_WITH(masked_fill(x, ones({2, 3}, DType::u8), 0),
                      Catch::Contains("[masked_fill]") && Catch::Contains("bool") && Catch::Contains("u8") &&
                          Catch::Contains("[2, 3]"));
  REQUIRE_THROWS_WITH(masked_fill(arange(3), bools({true, false, true}), -INFINITY),
                      Catch::Contains("[masked_fill]") && Catch::Contains("i64"));

  Tensor cond = bools({true, false, true});
  REQUIRE_THROWS_WITH(where(cond, x, testing::random({4, 3}, 2)),
                      Catch::Contains("[where]") && Catch::Contains("broadcast") && Catch::Contains("[3]") &&
                          Catch::Contains("[2, 3]") && Catch::Contains("[4, 3]"));
  REQUIRE_THROWS_WITH(where(cond, x, x.to(DType::f32)),
                      Catch::Contains("[where]") && Catch::Contains("dtype") && Catch::Contains("f32") &&
                          Catch::Contains("f64"));
  REQUIRE_THROWS_WITH(where(x, x, x), Catch::Contains("[where]") && Catch::Contains("bool") &&
                                          Catch::Contains("f64"));
}
