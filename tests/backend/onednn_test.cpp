// backend/cpu/onednn/matmul.hpp: the oneDNN matmul against the plain-loop reference kernel —
// f32 and bf16, strided and broadcast operands, bias and fused epilogues — and the primitive cache.
#include "support/testing.hpp"

#include <molm/backend/cpu/kernels/matmul.hpp>
#include <molm/backend/cpu/reference/matmul.hpp>

#include <thread>

using namespace molm;
namespace onednn = molm::backend::onednn;

namespace {

/// Out = a·b (+ bias) through oneDNN, into a fresh dense tensor of `out_shape`.
Tensor onednn_matmul(const Tensor& a, const Tensor& b, const Shape& out_shape, DType out_dtype, const Tensor& bias = {},
                     const onednn::Epilogue& ep = {}) {
  Tensor out = Tensor::empty(out_shape, out_dtype);
  onednn::matmul(a, b, bias, out, ep);
  return out;
}

/// The reference product of the same values in f64 (bf16 inputs are exact in f64).
Tensor reference_f64(const Tensor& a, const Tensor& b, const Shape& out_shape, const Tensor& bias = {}) {
  Tensor out = Tensor::empty(out_shape, DType::f64);
  backend::matmul_forward(reference_t{}, a.to(DType::f64), b.to(DType::f64),
                          bias.defined() ? bias.to(DType::f64) : bias, out);
  return out;
}

/// |got - want| ≤ rtol·‖a_row‖·‖b_col‖ (+ tiny atol): the error bound of a rounded dot product,
/// meaningful even where the sum cancels to near zero. Shapes are [..., M, K] and [..., K, N].
void require_close_to_dot_scale(const Tensor& got, const Tensor& want, const Tensor& a, const Tensor& b, double rtol) {
  REQUIRE(got.shape() == want.shape());
  const int r = got.dim();
  const Tensor a64 = a.to(DType::f64), b64 = b.to(DType::f64);
  // ‖row‖·‖col‖ for every output element, broadcast over batch dims.
  const Tensor row = sqrt(sum(mul(a64, a64), {-1}, true));  // [..., M, 1]
  const Tensor col = sqrt(sum(mul(b64, b64), {-2}, true));  // [..., 1, N]
  const auto scale = testing::values(mul(row, col).expand(got.shape()));
  const auto g = testing::values(got), w = testing::values(want);
  for (std::size_t i = 0; i < g.size(); ++i) {
    INFO("element " << i << " of " << got.shape().str() << ": " << g[i] << " vs " << w[i] << " (scale " << scale[i]
                    << ")");
    REQUIRE(std::abs(g[i] - w[i]) <= rtol * scale[i] + 1e-12);
  }
  (void)r;
}

struct LayoutCase {
  const char* name;
  std::function<Tensor(const Tensor&)> make;  // same values, different memory layout
};

std::vector<LayoutCase> layouts() {
  return {
      {"dense", [](const Tensor& t) { return t.clone(); }},
      {"transposed", [](const Tensor& t) { return testing::transposed_layout(t); }},
      {"padded rows",
       [](const Tensor& t) {  // a view into a wider buffer: leading dimension > columns
         Shape big = t.shape();
         big[big.size() - 1] += 5;
         Tensor store = zeros(big, t.dtype());
         Tensor v = store.narrow(-1, 2, t.shape().back());
         v.copy_(t);
         return v;
       }},
      {"every other column", [](const Tensor& t) { return testing::sliced_layout(t); }},  // needs a copy
  };
}

}  // namespace

TEST_CASE("onednn matmul f32 equals the reference on every operand layout", "[backend][onednn]") {
  const Shape sa{3, 37, 64}, sb{3, 64, 29};
  Tensor a = testing::random(sa, 1, DType::f32), b = testing::random(sb, 2, DType::f32);
  for (const auto& la : layouts())
    for (const auto& lb : layouts()) {
      INFO(la.name << " x " << lb.name);
      Tensor got = onednn_matmul(la.make(a), lb.make(b), {3, 37, 29}, DType::f32);
      testing::require_close(got, reference_f64(a, b, {3, 37, 29}), 1e-5, 1e-5);
    }
}

TEST_CASE("onednn matmul f32: a wide row-major right operand, reordered per call, equals the reference",
          "[backend][onednn]") {
  // 512×40·40×2100: wide and tall enough (N > 2,048, M ≥ 512) for the per-call reorder into
  // oneDNN's blocked layout; with bias and an epilogue, on each layout of b, and twice (the cached
  // primitive reorders again: a changed b is seen).
  Tensor a = testing::random({512, 40}, 21, DType::f32), bias = testing::random({2100}, 23, DType::f32);
  for (const auto& lb : layouts()) {
    INFO(lb.name);
    for (int seed : {22, 24}) {
      const Tensor b = testing::random({40, 2100}, seed, DType::f32);
      Tensor got = onednn_matmul(a, lb.make(b), {512, 2100}, DType::f32, bias);
      testing::require_close(got, reference_f64(a, b, {512, 2100}, bias), 1e-5, 1e-5);
      got = onednn_matmul(a, lb.make(b), {512, 2100}, DType::f32, bias, {0.5f, onednn::Activation::relu});
      testing::require_close(got, relu(mul(reference_f64(a, b, {512, 2100}, bias), 0.5)), 1e-5, 1e-5);
    }
  }
}

TEST_CASE("onednn matmul bf16 is within bf16 precision of the exact product", "[backend][onednn]") {
  Tensor a = testing::random({2, 45, 96}, 3, DType::bf16), b = testing::random({2, 96, 31}, 4, DType::bf16);
  const Tensor want = reference_f64(a, b, {2, 45, 31});
  for (const auto& la : layouts())
    for (const auto& lb : layouts()) {
      INFO(la.name << " x " << lb.name);
      const Tensor a2 = la.make(a), b2 = lb.make(b);
      // f32 result: only f32 accumulation error; bf16 result: one bf16 rounding (2^-8 relative) on top.
      require_close_to_dot_scale(onednn_matmul(a2, b2, {2, 45, 31}, DType::f32), want, a, b, 1e-5);
      require_close_to_dot_scale(onednn_matmul(a2, b2, {2, 45, 31}, DType::bf16), want, a, b, 1e-2);
    }
}

TEST_CASE("onednn matmul broadcasts batch dimensions", "[backend][onednn]") {
  for (DType dt : {DType::f32, DType::bf16}) {
    INFO(name(dt));
    const double rtol = dt == DType::f32 ? 1e-5 : 1e-2;
    Tensor a = testing::random({2, 1, 9, 16}, 5, dt), b = testing::random({1, 3, 16, 7}, 6, dt);
    const Tensor want = reference_f64(a, b, {2, 3, 9, 7});
    require_close_to_dot_scale(onednn_matmul(a, b, {2, 3, 9, 7}, dt), want, a, b, rtol);
    // An expanded operand (stride 0 over a batch dim of extent 3) runs as a broadcast, not a copy.
    Tensor b1 = testing::random({1, 1, 16, 7}, 7, dt);
    Tensor bx = b1.expand({1, 3, 16, 7});
    require_close_to_dot_scale(onednn_matmul(a, bx, {2, 3, 9, 7}, dt), reference_f64(a, bx, {2, 3, 9, 7}), a, bx, rtol);
    // Expanded where the other operand has the extent: described to oneDNN as a broadcast dim.
    Tensor a3 = testing::random({2, 3, 9, 16}, 10, dt);
    Tensor bx2 = testing::random({1, 3, 16, 7}, 11, dt).expand({2, 3, 16, 7});
    require_close_to_dot_scale(onednn_matmul(a3, bx2, {2, 3, 9, 7}, dt), reference_f64(a3, bx2, {2, 3, 9, 7}), a3, bx2,
                               rtol);
    // Permuted batch dims (batch strides in no particular order).
    Tensor ap = testing::random({3, 2, 9, 16}, 8, dt).permute({1, 0, 2, 3});
    Tensor bp = testing::random({3, 2, 16, 7}, 9, dt).permute({1, 0, 2, 3});
    require_close_to_dot_scale(onednn_matmul(ap, bp, {2, 3, 9, 7}, dt), reference_f64(ap, bp, {2, 3, 9, 7}), ap, bp,
                               rtol);
  }
}

TEST_CASE("onednn matmul handles vectors and 1x1 matrices", "[backend][onednn]") {
  struct Case {
    Shape a, b, out;
  };
  for (const Case& c : {Case{{1, 40}, {40, 9}, {1, 9}}, Case{{7, 40}, {40, 1}, {7, 1}}, Case{{1, 40}, {40, 1}, {1, 1}},
                        Case{{1, 1}, {1, 1}, {1, 1}}, Case{{6, 1}, {1, 5}, {6, 5}}}) {
    INFO(c.a.str() << " x " << c.b.str());
    Tensor a = testing::random(c.a, 10, DType::f32), b = testing::random(c.b, 11, DType::f32);
    for (const auto& la : layouts())
      testing::require_close(onednn_matmul(la.make(a), testing::transposed_layout(b), c.out, DType::f32),
                             reference_f64(a, b, c.out), 1e-5, 1e-6);
  }
}

TEST_CASE("onednn matmul: bias and fused epilogues", "[backend][onednn]") {
  Tensor a = testing::random({23, 48}, 12, DType::f32), b = testing::random({48, 19}, 13, DType::f32);
  Tensor bias = testing::random({19}, 14, DType::f32);
  const Tensor plain = reference_f64(a, b, {23, 19});
  const Tensor with_bias = reference_f64(a, b, {23, 19}, bias);
  testing::require_close(onednn_matmul(a, b, {23, 19}, DType::f32, bias), with_bias, 1e-5, 1e-6);
  // bias as a strided view
  Tensor wide = testing::random({38}, 15, DType::f32);
  Tensor strided_bias = wide.slice(0, 0, 38, 2);
  testing::require_close(onednn_matmul(a, b, {23, 19}, DType::f32, strided_bias),
                         reference_f64(a, b, {23, 19}, strided_bias), 1e-5, 1e-6);
  // out = act(scale·(a·b + bias))
  const Tensor scaled = mul(with_bias, 0.25);
  testing::require_close(onednn_matmul(a, b, {23, 19}, DType::f32, bias, {0.25f, onednn::Activation::none}), scaled,
                         1e-5, 1e-6);
  testing::require_close(onednn_matmul(a, b, {23, 19}, DType::f32, bias, {0.25f, onednn::Activation::relu}),
                         relu(scaled), 1e-5, 1e-6);
  testing::require_close(onednn_matmul(a, b, {23, 19}, DType::f32, bias, {1.0f, onednn::Activation::gelu_erf}),
                         gelu(with_bias), 1e-5, 1e-6);
  testing::require_close(onednn_matmul(a, b, {23, 19}, DType::f32, bias, {1.0f, onednn::Activation::gelu_tanh}),
                         gelu(with_bias, GeluApprox::tanh), 1e-5, 1e-6);
  testing::require_close(onednn_matmul(a, b, {23, 19}, DType::f32, {}, {1.0f, onednn::Activation::silu}), silu(plain),
                         1e-5, 1e-6);
  // bf16 inputs with an f32 bias
  Tensor ab = a.to(DType::bf16), bb = b.to(DType::bf16);
  require_close_to_dot_scale(onednn_matmul(ab, bb, {23, 19}, DType::f32, bias), reference_f64(ab, bb, {23, 19}, bias),
                             ab, bb, 1e-5);
}

TEST_CASE("onednn matmul: a repeated geometry reuses its cached primitive", "[backend][onednn][cache]") {
  onednn::clear_matmul_cache();
  Tensor a = testing::random({8, 16}, 20, DType::f32), b = testing::random({16, 4}, 21, DType::f32);
  onednn_matmul(a, b, {8, 4}, DType::f32);
  auto s = onednn::matmul_cache_stats();
  CHECK(s.misses == 1);
  CHECK(s.hits == 0);
  CHECK(s.size == 1);

  // Same geometry, different data: a hit.
  Tensor a2 = testing::random({8, 16}, 22, DType::f32);
  testing::require_close(onednn_matmul(a2, b, {8, 4}, DType::f32), reference_f64(a2, b, {8, 4}), 1e-5, 1e-6);
  s = onednn::matmul_cache_stats();
  CHECK(s.hits == 1);
  CHECK(s.misses == 1);
  CHECK(s.size == 1);

  // Extent-1 dims carry no layout information: [1, 8, 16] with any batch stride is one key.
  onednn_matmul(a.unsqueeze(0), b.unsqueeze(0), {1, 8, 4}, DType::f32);
  onednn_matmul(a.unsqueeze(1).permute({1, 0, 2}), b.unsqueeze(0), {1, 8, 4}, DType::f32);  // batch stride 16
  s = onednn::matmul_cache_stats();
  CHECK(s.misses == 2);
  CHECK(s.hits == 2);

  // Another dtype, layout, bias or thread count is another primitive.
  onednn_matmul(a, b, {8, 4}, DType::f32, testing::random({4}, 23, DType::f32));
  onednn_matmul(testing::transposed_layout(a), b, {8, 4}, DType::f32);
  const int threads = num_threads();
  set_num_threads(threads == 1 ? 2 : 1);
  onednn_matmul(a, b, {8, 4}, DType::f32);
  set_num_threads(threads);
  s = onednn::matmul_cache_stats();
  CHECK(s.misses == 5);
  CHECK(s.size == 5);

  // The cache is bounded: least recently used entries go first.
  onednn::set_matmul_cache_capacity(2);
  s = onednn::matmul_cache_stats();
  CHECK(s.size == 2);
  CHECK(s.evictions == 3);
  onednn_matmul(a, b, {8, 4}, DType::f32);  // evicted above (it was used before the last two): a miss
  CHECK(onednn::matmul_cache_stats().misses == 6);
  onednn::set_matmul_cache_capacity(512);
}

TEST_CASE("onednn matmul runs concurrently from several threads", "[backend][onednn]") {
  Tensor a = testing::random({4, 33, 40}, 30, DType::f32), b = testing::random({40, 21}, 31, DType::f32);
  const Tensor want = reference_f64(a, b.unsqueeze(0), {4, 33, 21});
  std::vector<Tensor> results(4);
  std::vector<std::thread> workers;
  for (std::size_t t = 0; t < results.size(); ++t)
    workers.emplace_back([&, t] {
      for (int rep = 0; rep < 20; ++rep) results[t] = onednn_matmul(a, b.unsqueeze(0), {4, 33, 21}, DType::f32);
    });
  for (auto& w : workers) w.join();
  for (const Tensor& r : results) testing::require_close(r, want, 1e-5, 1e-6);
}

TEST_CASE("onednn matmul rejects dtypes it has no path for", "[backend][onednn][errors]") {
  Tensor a = testing::random({2, 3}, 1, DType::f64), b = testing::random({3, 2}, 2, DType::f64);
  Tensor out = Tensor::empty({2, 2}, DType::f64);
  REQUIRE_THROWS_WITH(onednn::matmul(a, b, {}, out), Catch::Contains("[matmul]") && Catch::Contains("f64"));
  CHECK_FALSE(onednn::supports_matmul(DType::f32, DType::f32, DType::bf16));
  CHECK(onednn::supports_matmul(DType::bf16, DType::bf16, DType::f32));
}
