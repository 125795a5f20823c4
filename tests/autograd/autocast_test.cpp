// autograd/autocast.hpp with ops/linalg.hpp: inside the guard, f32 matmul/linear multiply the
// bf16-rounded operands (checked against f64 products of the rounded values) and return bf16 (f32
// when matmul is asked for it); the gradients reach the f32 leaves as f32; f64 is untouched; the
// guard nests and restores; the weight cache is never stale. The op-by-op rules against torch's
// own autocast: tests/golden/autocast_test.cpp.
#include "support/testing.hpp"

using namespace molm;
using Catch::Matchers::Contains;

namespace {
/// t rounded to bf16 and widened to f64: the exact values a bf16 GEMM multiplies.
Tensor bf16_values(const Tensor& t) { return t.detach().to(DType::bf16).to(DType::f64); }

double max_abs_diff(const Tensor& a, const Tensor& b) {
  const auto va = testing::values(a), vb = testing::values(b);
  double m = 0;
  for (std::size_t i = 0; i < va.size(); ++i) m = std::max(m, std::abs(va[i] - vb[i]));
  return m;
}
}  // namespace

TEST_CASE("autocast: linear multiplies bf16-rounded operands with a bf16 result and f32 gradients", "[autocast]") {
  const Tensor x = testing::random({2, 5, 64}, 1, DType::f32).set_requires_grad();
  const Tensor w = testing::random({24, 64}, 2, DType::f32).set_requires_grad();
  const Tensor b = testing::random({24}, 3, DType::f32).set_requires_grad();
  const Tensor dy = testing::random({2, 5, 24}, 4, DType::f32);
  Tensor y;
  {
    autocast guard;
    REQUIRE(autograd::autocast_dtype() == DType::bf16);
    y = linear(x, w, b);
    sum(mul(y, dy)).backward();
  }
  CHECK_FALSE(autograd::autocast_dtype().has_value());
  REQUIRE(y.dtype() == DType::bf16);
  // Forward: the product of the rounded operands (bias rounded too, as torch casts it), summed in
  // f32 and rounded once to bf16: within half a bf16 step (2⁻⁹ relative) of the exact product.
  const Tensor expected = linear(bf16_values(x), bf16_values(w), bf16_values(b));
  testing::require_close(y, expected, 1.0 / 256, 1e-5);
  // ... and really not the f32 product.
  CHECK(max_abs_diff(y, linear(x.detach(), w.detach(), b.detach())) > 1e-3);

  // Backward: f32 gradients on the f32 leaves; the products' gradients are bf16 (as in PyTorch), so
  // they match the f64 gradients to bf16 precision; the bias gradient is a bf16 sum of bf16 rows.
  REQUIRE(x.grad().dtype() == DType::f32);
  REQUIRE(w.grad().dtype() == DType::f32);
  REQUIRE(b.grad().dtype() == DType::f32);
  const Tensor dy64 = dy.to(DType::f64);
  testing::require_close(x.grad(), matmul(dy64, bf16_values(w)), 2e-2, 5e-2);
  testing::require_close(w.grad(), matmul(dy64.reshape({10, 24}).transpose(0, 1), bf16_values(x).reshape({10, 64})),
                         2e-2, 5e-2);
  testing::require_close(b.grad(), sum(bf16_values(dy), {0, 1}), 1.0 / 128, 1e-6);
}

TEST_CASE("autocast: matmul with batch dims, and a leaf that needs no gradient", "[autocast]") {
  const Tensor a = testing::random({3, 4, 32}, 5, DType::f32).set_requires_grad();
  const Tensor b = testing::random({32, 6}, 6, DType::f32);
  Tensor y;
  {
    autocast guard;
    y = matmul(a, b);
    CHECK(matmul(a, b, DType::f32).dtype() == DType::f32);  // the accumulator, when asked for
    testing::require_close(matmul(a, b, DType::f32), matmul(bf16_values(a), bf16_values(b)), 1e-5, 1e-5);
    sum(y).backward();
  }
  REQUIRE(y.dtype() == DType::bf16);
  testing::require_close(y, matmul(bf16_values(a), bf16_values(b)), 1.0 / 256, 1e-5);
  REQUIRE(a.grad().dtype() == DType::f32);
  testing::require_close(a.grad(), matmul(ones({3, 4, 6}, DType::f64), bf16_values(b).transpose(0, 1)), 1e-2, 2e-2);
}

TEST_CASE("autocast: f64 is untouched, the guard nests and can switch autocast off", "[autocast]") {
  const Tensor x = testing::random({4, 16}, 7, DType::f64), w = testing::random({3, 16}, 8, DType::f64);
  const Tensor plain = linear(x, w);
  const Tensor x32 = x.to(DType::f32), w32 = w.to(DType::f32);
  const Tensor plain32 = linear(x32, w32);
  {
    autocast outer;
    testing::require_close(linear(x, w), plain, 0.0, 0.0);
    {
      autocast off(DType::bf16, false);
      CHECK_FALSE(autograd::autocast_dtype().has_value());
      testing::require_close(linear(x32, w32), plain32, 0.0, 0.0);
    }
    CHECK(autograd::autocast_dtype() == DType::bf16);
    CHECK(max_abs_diff(linear(x32, w32), plain32) > 1e-4);
  }
  REQUIRE_THROWS_WITH(autocast(DType::f16), Contains("only bf16 autocast"));
  // Outside a guard nothing is promoted: mixed operands are an error, as everywhere in molm.
  CHECK_THROWS(add(x32, x32.to(DType::bf16)));
  {
    autocast guard;
    CHECK(add(x32, x32.to(DType::bf16)).dtype() == DType::f32);
    CHECK_THROWS(add(x, x32));  // f64 with f32: not an autocast pair
    CHECK_THROWS(add(x, x32.to(DType::bf16)));  // f64 with bf16: autocast leaves f64 alone
  }
}

TEST_CASE("autocast: an AdamW step on f32 master weights trains under autocast", "[autocast]") {
  Generator gen(3);
  nn::Linear layer(16, 1, gen);
  const Tensor x = testing::random({64, 16}, 9, DType::f32), t = testing::random({64, 1}, 10, DType::f32);
  optim::AdamW opt(layer.parameters(), {1e-2, 0.9, 0.999, 1e-8, 0.0});
  auto loss_now = [&] {
    autocast guard;
    const Tensor d = sub(layer.forward(x), t);
    return mean(mul(d, d));
  };
  const double first = loss_now().item<float>();
  for (int i = 0; i < 30; ++i) {
    opt.zero_grad();
    loss_now().backward();
    REQUIRE(layer.weight.grad().dtype() == DType::f32);
    opt.step();
  }
  CHECK(layer.weight.dtype() == DType::f32);
  CHECK(loss_now().item<float>() < 0.7 * first);
}

TEST_CASE("autocast: a weight is cast once per scope, and a changed weight is never served stale", "[autocast]") {
  Generator gen(4);
  nn::Linear layer(32, 8, gen);
  const Tensor x = testing::random({5, 32}, 11, DType::f32);
  // What the layer must give for its current weight: the product of the bf16-rounded operands.
  auto expected = [&] {
    return linear(bf16_values(x), bf16_values(layer.weight), bf16_values(layer.bias));
  };
  const autograd::AutocastCacheStats before = autograd::autocast_cache_stats();  // counts since thread start
  {
    autocast guard;
    const Tensor y1 = layer.forward(x), y2 = layer.forward(x);
    CHECK(autograd::autocast_cache_stats().casts - before.casts == 2);  // the weight and the bias
    CHECK(autograd::autocast_cache_stats().hits - before.hits == 2);
    testing::require_close(y2, y1, 0.0, 0.0);

    // copy_ (what load_state_dict does) inside the same scope: the next forward sees the new weight.
    {
      no_grad g;
      layer.weight.copy_(testing::random({8, 32}, 12, DType::f32));
    }
    testing::require_close(layer.forward(x), expected(), 1.0 / 256, 1e-5);
    CHECK(autograd::autocast_cache_stats().casts - before.casts == 3);  // the weight again; the bias is unchanged

    // load_state_dict.
    nn::StateDict sd;
    sd.insert("weight", testing::random({8, 32}, 13, DType::f32));
    sd.insert("bias", layer.bias.detach().clone());
    layer.load_state_dict(sd);
    testing::require_close(layer.forward(x), expected(), 1.0 / 256, 1e-5);

    // An optimizer step.
    optim::SGD opt(layer.parameters(), {0.5});
    sum(layer.forward(x)).backward();
    opt.step();
    testing::require_close(layer.forward(x), expected(), 1.0 / 256, 1e-5);
    CHECK(autograd::autocast_cache_stats().entries == 2);
  }
  CHECK(autograd::autocast_cache_stats().entries == 0);  // the outermost guard's end empties it
}

TEST_CASE("autocast: cached weights keep their gradients across passes and grad modes", "[autocast]") {
  const Tensor w = testing::random({8, 32}, 14, DType::f32).set_requires_grad();
  const Tensor x = testing::random({5, 32}, 15, DType::f32);
  Tensor one_pass;
  {
    autocast guard;
    sum(linear(x, w)).backward();
    one_pass = w.grad().clone();
  }
  w.grad().fill_(0.0);
  {
    autocast guard;
    {
      no_grad g;  // a copy made without history must not be reused to record one
      (void)linear(x, w);
    }
    const autograd::AutocastCacheStats before = autograd::autocast_cache_stats();
    const Tensor y1 = linear(x, w), y2 = linear(x, w);  // one cast serves both
    CHECK(autograd::autocast_cache_stats().hits - before.hits == 1);
    sum(add(y1, y2)).backward();
    sum(linear(x, w)).backward();  // a second pass: the cast is made again (the first one's node is freed)
    sum(linear(x, w)).backward();
  }
  testing::require_close(w.grad(), mul(one_pass, 4.0), 1e-6, 1e-6);
}
