// backend/cpu/kernels/avx512.hpp and the bf16 / SiLU paths of kernels/gelu.hpp:
// - the AVX-512 bf16 load and store are bit for bit molm::bfloat16's conversions, over ties (both
//   parities), carries into the exponent, overflow to infinity, subnormals, infinities and NaNs;
// - SiLU f32 forward equals x·σ(x) in double, its backward σ(1 + x(1 - σ)) in double and central
//   differences of the forward; wrong derivatives are rejected by the same tolerances;
// - GELU and SiLU in bf16 are the f32 result rounded once (compared with the double formula widened
//   from the bf16 inputs, within half a bf16 ulp plus the f32 kernel's error).
// On a CPU without AVX-512 the vectorised bf16 and SiLU paths are not taken (the generic map runs,
// checked by tests/ops/unary_test.cpp); the cases here then say so and check the fallback flags.
#include "support/testing.hpp"

#include <molm/backend/cpu/kernels/gelu.hpp>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

using namespace molm;

namespace {

double ref_sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }
double ref_silu(double x) { return x * ref_sigmoid(x); }
double ref_silu_grad(double x) { return ref_sigmoid(x) * (1.0 + x * (1.0 - ref_sigmoid(x))); }
double ref_gelu(double x) { return 0.5 * x * std::erfc(-x * 0.70710678118654752440); }

std::vector<float> activation_sweep() {
  std::vector<float> p = {-100.0f, -30.0f, -20.0f, -10.0f, -5.0f, -1.0f, -1e-3f, -1e-7f, 0.0f, 1e-7f, 1e-3f,
                          1.0f,    5.0f,   10.0f,  20.0f,  30.0f, 100.0f, 1e4f};
  for (double x = -16.0; x <= 16.0; x += 0.0313) p.push_back(static_cast<float>(x));
  return p;
}

float float_of_bits(std::uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
std::uint16_t bits_of_bf16(bfloat16 b) {
  std::uint16_t u;
  std::memcpy(&u, &b, 2);
  return u;
}

bool avx512_or_warn() {
  if (backend::cpu_has_avx512()) return true;
  WARN("this CPU has no AVX-512: the vectorised bf16 and SiLU paths are not taken here");
  CHECK_FALSE(backend::has_fast_activation<float>(backend::UnaryOp::silu));
  CHECK_FALSE(backend::has_fast_activation<bfloat16>(backend::UnaryOp::gelu));
  return false;
}

}  // namespace

TEST_CASE("avx512 bf16 load/store: bit for bit molm::bfloat16's conversions", "[backend][avx512]") {
  if (!avx512_or_warn()) return;
#ifdef MOLM_HAVE_AVX512_KERNELS
  std::vector<std::uint32_t> patterns = {
      0x00000000u, 0x80000000u, 0x3f800000u, 0xbf800000u,  // ±0, ±1
      0x3f808000u, 0x3f818000u,                            // ties: to even down, to even up
      0x3f807fffu, 0x3f808001u,                            // just below / above a tie
      0x3fffffffu, 0x7f7fffffu, 0xff7fffffu,               // carries into the exponent; max float → inf
      0x00000001u, 0x00400000u, 0x807fffffu,               // subnormals
      0x7f800000u, 0xff800000u,                            // ±inf
      0x7fc00000u, 0xffc00001u, 0x7f800001u, 0x7fa00000u,  // quiet and signalling NaNs
  };
  std::mt19937 rng(7);
  for (int i = 0; i < 4000; ++i) patterns.push_back(rng());
  const std::int64_t n = static_cast<std::int64_t>(patterns.size());
  std::vector<float> f(patterns.size());
  for (std::size_t i = 0; i < patterns.size(); ++i) f[i] = float_of_bits(patterns[i]);

  std::vector<bfloat16> stored(patterns.size());
  backend::avx512::convert(f.data(), stored.data(), n);
  for (std::size_t i = 0; i < patterns.size(); ++i) {
    INFO("float bits 0x" << std::hex << patterns[i]);
    REQUIRE(bits_of_bf16(stored[i]) == bits_of_bf16(static_cast<bfloat16>(f[i])));
  }
  std::vector<float> widened(patterns.size());
  backend::avx512::convert(stored.data(), widened.data(), n);
  for (std::size_t i = 0; i < patterns.size(); ++i) {
    const float want = static_cast<float>(stored[i]);
    std::uint32_t a, b;
    std::memcpy(&a, &widened[i], 4);
    std::memcpy(&b, &want, 4);
    REQUIRE(a == b);
  }
#endif
}

TEST_CASE("dense f32 <-> bf16 casts and copies: the blocked path equals the reference walk bit for bit",
          "[backend][convert]") {
  // 40,000 elements: several 16,384-element blocks and a ragged tail; random bit patterns include
  // NaNs, infinities, subnormals and rounding ties.
  const std::int64_t n = 40000;
  std::mt19937 rng(11);
  Tensor f = Tensor::empty({n}, DType::f32);
  for (std::int64_t i = 0; i < n; ++i) f.data<float>()[i] = float_of_bits(rng());
  f.data<float>()[0] = float_of_bits(0x3f808000u);  // a tie to even
  f.data<float>()[1] = float_of_bits(0x7fa00000u);  // a signalling NaN
  Tensor down, up, same, ref_down, ref_up, ref_same;
  down = f.to(DType::bf16);
  up = down.to(DType::f32);
  same = down.clone();
  {
    backend::ReferenceGuard guard;
    ref_down = f.to(DType::bf16);
    ref_up = ref_down.to(DType::f32);
    ref_same = ref_down.clone();
  }
  REQUIRE(std::memcmp(down.data<bfloat16>(), ref_down.data<bfloat16>(), n * 2) == 0);
  REQUIRE(std::memcmp(up.data<float>(), ref_up.data<float>(), n * 4) == 0);
  REQUIRE(std::memcmp(same.data<bfloat16>(), ref_same.data<bfloat16>(), n * 2) == 0);
  // A strided source takes the generic walk and gives the same bits.
  const Tensor strided = f.reshape({n / 2, 2}).select(1, 0).to(DType::bf16);
  for (std::int64_t i = 0; i < n / 2; ++i)
    REQUIRE(bits_of_bf16(strided.data<bfloat16>()[i]) == bits_of_bf16(down.data<bfloat16>()[2 * i]));
}

TEST_CASE("silu f32: forward and backward equal the double formulas and central differences", "[backend][silu]") {
  if (!avx512_or_warn()) return;
  const std::vector<float> x = activation_sweep();
  const std::int64_t n = static_cast<std::int64_t>(x.size());
  std::vector<float> y(x.size()), dx(x.size()), ones(x.size(), 1.0f);
  backend::silu_forward<float>(x.data(), y.data(), n);
  backend::silu_backward<float>(ones.data(), x.data(), dx.data(), n);
  for (std::size_t i = 0; i < x.size(); ++i) {
    INFO("x = " << x[i] << ": y " << y[i] << " vs " << ref_silu(x[i]) << ", dy/dx " << dx[i] << " vs "
                << ref_silu_grad(x[i]));
    CHECK(std::abs(y[i] - ref_silu(x[i])) <= 1e-6 * std::abs(ref_silu(x[i])) + 1e-30);
    CHECK(std::abs(dx[i] - ref_silu_grad(x[i])) <= 1e-6 + 1e-6 * std::abs(ref_silu_grad(x[i])));
  }
  // Central differences of the f32 forward, h = 2⁻⁸ (|f‴| ≤ 0.5: truncation ≤ 1.3e-6; rounding
  // noise ≤ 6e-8·(1+|x|)/h), against the backward.
  const double h = 1.0 / 256;
  std::vector<float> xp(x.size()), xm(x.size()), yp(x.size()), ym(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) {
    xp[i] = static_cast<float>(x[i] + h);
    xm[i] = static_cast<float>(x[i] - h);
  }
  backend::silu_forward<float>(xp.data(), yp.data(), n);
  backend::silu_forward<float>(xm.data(), ym.data(), n);
  std::size_t wrong_rejected = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    if (std::abs(x[i]) > 50) continue;  // the step is below x's own rounding there
    const double fd = (double(yp[i]) - double(ym[i])) / (double(xp[i]) - double(xm[i]));
    const double tol = 5e-6 + 3e-5 * (1 + std::abs(x[i]));
    INFO("x = " << x[i] << ": backward " << dx[i] << ", central difference " << fd);
    CHECK(std::abs(dx[i] - fd) <= tol);
    if (std::abs(ref_sigmoid(x[i]) - fd) > tol) ++wrong_rejected;  // σ alone is a plausible wrong derivative
  }
  CHECK(wrong_rejected > x.size() / 2);
}

TEST_CASE("gelu and silu bf16: the f32 result rounded once", "[backend][gelu][silu]") {
  if (!avx512_or_warn()) return;
  std::vector<float> xf = activation_sweep();
  std::vector<bfloat16> x(xf.size()), y(xf.size()), dx(xf.size()), dy(xf.size());
  std::mt19937 rng(9);
  std::uniform_real_distribution<float> coin(-2.0f, 2.0f);
  for (std::size_t i = 0; i < xf.size(); ++i) {
    x[i] = static_cast<bfloat16>(xf[i]);
    dy[i] = static_cast<bfloat16>(coin(rng));
  }
  const std::int64_t n = static_cast<std::int64_t>(x.size());
  // Half a bf16 ulp (at most 2⁻⁸ relative) of the rounding, plus the f32 kernels' error.
  const auto close = [](double got, double want) {
    return std::abs(got - want) <= std::abs(want) * (1.0 / 256 + 1e-5) + 1e-6;
  };
  // ... and exactly the f32 kernel's result on the widened inputs, rounded once.
  std::vector<float> xw(x.size()), dyw(x.size()), yf(x.size()), dxf(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) {
    xw[i] = static_cast<float>(x[i]);
    dyw[i] = static_cast<float>(dy[i]);
  }
  const auto same_bits = [](bfloat16 got, float f32) {
    return bits_of_bf16(got) == bits_of_bf16(static_cast<bfloat16>(f32));
  };

  backend::gelu_forward<bfloat16>(x.data(), y.data(), n);
  backend::gelu_forward<float>(xw.data(), yf.data(), n);
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double v = static_cast<float>(x[i]), want = ref_gelu(v);
    INFO("gelu x = " << v << ": " << static_cast<float>(y[i]) << " vs " << want << " (f32 kernel " << yf[i] << ")");
    CHECK(close(static_cast<float>(y[i]), want));
    CHECK(same_bits(y[i], yf[i]));
  }
  backend::gelu_backward<bfloat16>(dy.data(), x.data(), dx.data(), n);
  backend::gelu_backward<float>(dyw.data(), xw.data(), dxf.data(), n);
  for (std::size_t i = 0; i < x.size(); ++i) CHECK(same_bits(dx[i], dxf[i]));
  backend::silu_forward<bfloat16>(x.data(), y.data(), n);
  backend::silu_backward<bfloat16>(dy.data(), x.data(), dx.data(), n);
  backend::silu_forward<float>(xw.data(), yf.data(), n);
  backend::silu_backward<float>(dyw.data(), xw.data(), dxf.data(), n);
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double v = static_cast<float>(x[i]), g = static_cast<float>(dy[i]);
    INFO("silu x = " << v << ": " << static_cast<float>(y[i]) << " vs " << ref_silu(v));
    CHECK(close(static_cast<float>(y[i]), ref_silu(v)));
    CHECK(close(static_cast<float>(dx[i]), g * ref_silu_grad(v)));
    CHECK(same_bits(y[i], yf[i]));
    CHECK(same_bits(dx[i], dxf[i]));
  }
}
