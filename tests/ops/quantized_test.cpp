// ops/quantized.hpp: int8 weights in blocks of 32 (Q8_0 layout, f32 scales) and linear_q8, against
// a plain recomputation from the definition, on both CPU backends; and the GEMV path (M ≤ 4) that
// decoding uses for floating weights (backend/cpu/kernels/gemv.hpp) against oneDNN's result.
#include "support/testing.hpp"

using namespace molm;

namespace {
/// The definition, in double: d = max|w| / 127 per block, q = round(w / d).
std::pair<std::vector<int>, std::vector<double>> quantize_by_hand(const Tensor& w) {
  const std::int64_t N = w.shape()[0], K = w.shape()[1], B = (K + 31) / 32;
  const auto v = testing::values(w);
  std::vector<int> q(static_cast<std::size_t>(N * K));
  std::vector<double> d(static_cast<std::size_t>(N * B));
  for (std::int64_t n = 0; n < N; ++n)
    for (std::int64_t b = 0; b < B; ++b) {
      float amax = 0;
      for (std::int64_t k = b * 32; k < std::min(K, b * 32 + 32); ++k) amax = std::max(amax, std::abs(float(v[n * K + k])));
      const float scale = amax / 127.0f;
      d[n * B + b] = scale;
      for (std::int64_t k = b * 32; k < std::min(K, b * 32 + 32); ++k)
        q[n * K + k] = scale > 0 ? int(std::nearbyint(float(v[n * K + k]) * (1.0f / scale))) : 0;
    }
  return {q, d};
}
}  // namespace

TEST_CASE("quantize_q8: blocks of 32 with one scale each, a short last block, zeros") {
  Tensor w = testing::random({5, 70}, 1, DType::f32, -2.0, 2.0);  // 70 = 2 blocks of 32 + 6
  w.select(0, 2).zero_();                                           // an all-zero row: scale 0, q 0
  const Q8Weight q = quantize_q8(w);
  REQUIRE(q.q.shape() == Shape({5, 70}));
  REQUIRE(q.scales.shape() == Shape({5, 3}));
  const auto [want_q, want_d] = quantize_by_hand(w);
  const auto* pq = reinterpret_cast<const std::int8_t*>(q.q.data<std::uint8_t>());
  for (std::size_t i = 0; i < want_q.size(); ++i) REQUIRE(int(pq[i]) == want_q[i]);
  for (std::size_t i = 0; i < want_d.size(); ++i) REQUIRE(double(q.scales.data<float>()[i]) == Approx(want_d[i]).epsilon(1e-7));
  // The error of each weight is at most half a step.
  for (std::int64_t n = 0; n < 5; ++n)
    for (std::int64_t k = 0; k < 70; ++k) {
      const double d = want_d[n * 3 + k / 32];
      REQUIRE(std::abs(d * want_q[n * 70 + k] - w.select(0, n).select(0, k).item<double>()) <= 0.5 * d + 1e-7);
    }
  CHECK(q.nbytes() == 5 * 70 + 4 * 15);
}

TEST_CASE("linear_q8: every M on both backends equals x · dequant(W)ᵀ + b") {
  for (std::int64_t K : {64, 70, 256}) {
    const Tensor w = testing::random({37, K}, 2, DType::f32, -1.0, 1.0);
    const Tensor bias = testing::random({37}, 3, DType::f32);
    const Q8Weight q = quantize_q8(w);
    const auto [qv, dv] = quantize_by_hand(w);
    Tensor deq = Tensor::empty({37, K}, DType::f64);
    for (std::int64_t n = 0; n < 37; ++n)
      for (std::int64_t k = 0; k < K; ++k) deq.data<double>()[n * K + k] = dv[n * ((K + 31) / 32) + k / 32] * qv[n * K + k];
    for (std::int64_t M : {1, 2, 3, 4, 5, 9}) {
      INFO("K " << K << " M " << M);
      const Tensor x = testing::random({M, K}, 4 + M, DType::f32);
      const Tensor want = linear(x.to(DType::f64), deq, bias.to(DType::f64));
      testing::require_matches_reference([&] { return linear_q8(x, q, bias); }, 1e-5, 1e-5);
      testing::require_close(linear_q8(x, q, bias).to(DType::f64), want, 1e-5, 1e-5);
      // bf16 activations: the result rounded to bf16 once.
      const Tensor xb = x.to(DType::bf16);
      const Tensor wantb = linear(xb.to(DType::f64), deq, bias.to(DType::f64));
      testing::require_close(linear_q8(xb, q, bias).to(DType::f64), wantb, 1e-2, 1e-2);
    }
  }
  Tensor x = testing::random({1, 64}, 9, DType::f32);
  x.set_requires_grad(true);
  const Q8Weight q = quantize_q8(testing::random({3, 64}, 1, DType::f32));
  CHECK_THAT(testing::error_of([&] { linear_q8(x, q); }), Catch::Contains("no gradient"));
}

TEST_CASE("nn::Linear::quantize_int8 releases the weight and keeps the layer's output close") {
  Generator gen(5);
  nn::Linear lin(96, 40, gen);
  const Tensor x = testing::random({2, 3, 96}, 6, DType::f32);
  no_grad ng;
  const Tensor before = lin.forward(x);
  lin.quantize_int8();
  CHECK(lin.weight.shape() == Shape({0, 96}));
  const Tensor after = lin.forward(x);
  REQUIRE(after.shape() == before.shape());
  testing::require_close(after, before, 0.0, 0.02);  // weights off by at most half a step (~0.4%)
}

TEST_CASE("linear: the GEMV path for M <= 4 (f32, bf16) agrees with the GEMM path") {
  for (DType dt : {DType::f32, DType::bf16}) {
    const Tensor w = testing::random({300, 200}, 7, DType::f32).to(dt);
    const Tensor b = testing::random({300}, 8, DType::f32).to(dt);
    const Tensor x8 = testing::random({8, 200}, 9, DType::f32).to(dt);  // 8 rows: oneDNN
    const Tensor full = linear(x8, w, b).to(DType::f64);
    for (std::int64_t M : {1, 2, 3, 4}) {
      INFO(name(dt) << " M " << M);
      const Tensor part = linear(x8.narrow(0, 0, M), w, b).to(DType::f64);
      if (dt == DType::f32) testing::require_close(part, full.narrow(0, 0, M), 1e-5, 1e-5);
      else testing::require_close(part, full.narrow(0, 0, M), 1e-2, 2e-2);
      testing::require_matches_reference([&] { return linear(x8.narrow(0, 0, M), w, b).to(DType::f32); },
                                         dt == DType::f32 ? 1e-5 : 1e-2, dt == DType::f32 ? 1e-5 : 2e-2);
    }
  }
}
