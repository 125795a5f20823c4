#include "support/testing.hpp"

using namespace molm;

TEST_CASE("backward of a scalar accumulates into leaves", "[autograd]") {
  Tensor x = from_vector<double>({1, 2, 3}, {3}).set_requires_grad();
  Tensor y = sum(x * x);
  y.backward();
  REQUIRE(testing::values(x.grad()) == std::vector<double>{2, 4, 6});
  // a second graph accumulates on top
  sum(x * 3.0).backward();
  REQUIRE(testing::values(x.grad()) == std::vector<double>{5, 7, 9});
  x.zero_grad();
  REQUIRE_FALSE(x.grad().defined());
}

TEST_CASE("a tensor used twice sums both paths", "[autograd]") {
  Tensor x = from_vector<double>({0.5, -1.0}, {2}).set_requires_grad();
  Tensor a = exp(x);
  Tensor y = sum(a * a + a);  // d/dx = 2e^{2x} + e^x
  y.backward();
  const auto g = testing::values(x.grad());
  REQUIRE(g[0] == Approx(2 * std::exp(1.0) + std::exp(0.5)).epsilon(1e-12));
  REQUIRE(g[1] == Approx(2 * std::exp(-2.0) + std::exp(-1.0)).epsilon(1e-12));
}

TEST_CASE("non-scalar backward needs a gradient of the right shape", "[autograd]") {
  Tensor x = ones({2, 3}, DType::f64).set_requires_grad();
  Tensor y = x * 2.0;
  REQUIRE_THROWS_WITH(y.backward(), Catch::Contains("backward") && Catch::Contains("[2, 3]"));
  REQUIRE_THROWS_WITH(y.backward(ones({3, 2}, DType::f64)), Catch::Contains("[3, 2]") && Catch::Contains("[2, 3]"));
  REQUIRE_THROWS_WITH(y.backward(ones({2, 3}, DType::f32)), Catch::Contains("f32"));
  y.backward(full({2, 3}, 0.5, DType::f64));
  REQUIRE(testing::values(x.grad())[4] == 1.0);
  Tensor c = ones({2});
  REQUIRE_THROWS_WITH(sum(c).backward(), Catch::Contains("requires_grad"));
}

TEST_CASE("the graph is freed after backward unless retained", "[autograd]") {
  Tensor x = from_vector<double>({1, 2}, {2}).set_requires_grad();
  Tensor y = sum(tanh(x));
  y.backward(Tensor(), /*retain_graph=*/true);
  const auto g1 = testing::values(x.grad());
  y.backward();  // allowed: the first call retained the graph
  const auto g2 = testing::values(x.grad());
  REQUIRE(g2[0] == Approx(2 * g1[0]));
  REQUIRE_THROWS_WITH(y.backward(), Catch::Contains("second time") && Catch::Contains("retain_graph"));
}

TEST_CASE("modifying a saved tensor in place is reported with the op's name", "[autograd]") {
  Tensor x = from_vector<double>({1, 2}, {2}).set_requires_grad();
  Tensor e = exp(x);  // saves its output
  Tensor y = sum(e);
  { autograd::no_grad ng; e.fill_(0.0); }
  REQUIRE_THROWS_WITH(y.backward(), Catch::Contains("exp") && Catch::Contains("in place"));
  Tensor w = from_vector<double>({3, 4}, {2});
  Tensor x2 = from_vector<double>({1, 2}, {2}).set_requires_grad();
  Tensor z = sum(x2 * w);  // mul saves w
  w.fill_(1.0);
  REQUIRE_THROWS_WITH(z.backward(), Catch::Contains("mul"));
}

TEST_CASE("no_grad records nothing, enable_grad re-enables", "[autograd]") {
  Tensor x = ones({2}, DType::f64).set_requires_grad();
  {
    autograd::no_grad guard;
    Tensor y = x * 2.0;
    REQUIRE_FALSE(y.requires_grad());
    REQUIRE_FALSE(y.grad_fn());
    {
      autograd::enable_grad on;
      REQUIRE((x * 2.0).requires_grad());
    }
  }
  REQUIRE((x * 2.0).requires_grad());
}

TEST_CASE("detach cuts history and shares storage", "[autograd]") {
  Tensor x = ones({3}, DType::f64).set_requires_grad();
  Tensor y = x * 2.0;
  Tensor d = y.detach();
  REQUIRE_FALSE(d.requires_grad());
  REQUIRE(d.raw_data() == y.raw_data());
  Tensor z = sum(y * d);  // d is a constant: dz/dx = 2·d = 4
  z.backward();
  REQUIRE(testing::values(x.grad()) == std::vector<double>{4, 4, 4});
}

TEST_CASE("graphs tens of thousands of nodes deep neither overflow nor leak the stack", "[autograd]") {
  Tensor x = from_vector<double>({1.0}, {1}).set_requires_grad();
  Tensor y = x;
  const int depth = 50000;
  for (int i = 0; i < depth; ++i) y = y * 1.0001;
  sum(y).backward();
  REQUIRE(x.grad().item<double>() == Approx(std::pow(1.0001, depth)).epsilon(1e-9));
  // An unused deep graph is destroyed iteratively too (destructor recursion would crash here).
  Tensor z = x;
  for (int i = 0; i < depth; ++i) z = z + 1.0;
  z = Tensor();
  SUCCEED("deep graph destroyed");
}

TEST_CASE("gradients flow through views into the base", "[autograd][views]") {
  Tensor x = arange(6, DType::f64).reshape({2, 3}).set_requires_grad();
  Tensor y = sum(x.transpose(0, 1).slice(0, 1, 3) * 2.0);  // columns 1,2 of x
  y.backward();
  REQUIRE(testing::values(x.grad()) == std::vector<double>{0, 2, 2, 0, 2, 2});
}

TEST_CASE("free backward over several outputs", "[autograd]") {
  Tensor x = from_vector<double>({1, 2}, {2}).set_requires_grad();
  Tensor a = x * 2.0, b = x * x;
  backward({a, b}, {ones({2}, DType::f64), ones({2}, DType::f64)});
  REQUIRE(testing::values(x.grad()) == std::vector<double>{4, 6});
}
