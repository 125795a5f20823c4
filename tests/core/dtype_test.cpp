#include "support/testing.hpp"

#include <cstring>
#include <limits>

using namespace molm;

namespace {
float f32_from_bits(std::uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
// The oracle is the IEEE definition itself, evaluated in double: value = ±2^(e-15)·(1 + m/1024),
// subnormals ±2^-14·(m/1024).
double half_value(std::uint16_t b) {
  const int e = (b >> 10) & 0x1f, m = b & 0x3ff;
  const double mag = e == 0 ? std::ldexp(m, -24) : e == 31 ? (m ? NAN : INFINITY) : std::ldexp(1024 + m, e - 25);
  return (b & 0x8000) ? -mag : mag;
}
// Nearest half to f, ties to the even mantissa, by search over all finite positive halves.
std::uint16_t nearest_half(float f) {
  const double a = std::abs(static_cast<double>(f));
  const std::uint16_t sign = std::signbit(f) ? 0x8000 : 0;
  if (a >= 65520.0) return sign | 0x7c00;  // rounds past the largest half (65504): infinity
  std::uint16_t lo = 0, hi = 0x7bff;  // positive finite halves are monotone in their bits
  while (hi - lo > 1) {
    const std::uint16_t mid = static_cast<std::uint16_t>((lo + hi) / 2);
    (half_value(mid) <= a ? lo : hi) = mid;
  }
  const double dl = a - half_value(lo), dh = half_value(hi) - a;
  const std::uint16_t pick = dl < dh ? lo : dh < dl ? hi : ((lo & 1) ? hi : lo);
  return sign | pick;
}
}  // namespace

TEST_CASE("float16 decodes every bit pattern exactly", "[core][dtype]") {
  for (std::uint32_t b = 0; b < 65536; ++b) {
    const float ours = float16::from_bits(static_cast<std::uint16_t>(b));
    const double expect = half_value(static_cast<std::uint16_t>(b));
    if (std::isnan(expect)) {
      REQUIRE(std::isnan(ours));
    } else {
      INFO("bits " << b);
      REQUIRE(static_cast<double>(ours) == expect);
      REQUIRE(std::signbit(ours) == std::signbit(expect));
    }
  }
}

TEST_CASE("float16 encodes with round-to-nearest-even", "[core][dtype]") {
  // Every float16 boundary region: sweep exponents across subnormal, normal and overflow ranges.
  std::uint64_t state = 12345;
  for (int i = 0; i < 200000; ++i) {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    const std::uint32_t exp = 100 + static_cast<std::uint32_t>((state >> 33) % 60);  // 2^-27 .. 2^32
    const std::uint32_t u = (static_cast<std::uint32_t>(state >> 60) << 31 & 0x80000000u) | (exp << 23) |
                            (static_cast<std::uint32_t>(state >> 20) & 0x7fffffu);
    const float f = f32_from_bits(u);
    INFO("value " << f);
    REQUIRE(float16(f).bits == nearest_half(f));
  }
  REQUIRE(std::isnan(static_cast<float>(float16(std::numeric_limits<float>::quiet_NaN()))));
  REQUIRE(static_cast<float>(float16(1e6f)) == std::numeric_limits<float>::infinity());
}

TEST_CASE("bfloat16 rounds to nearest even and round-trips", "[core][dtype]") {
  REQUIRE(static_cast<float>(bfloat16(1.0f)) == 1.0f);
  // 1 + 2^-8 is exactly halfway between 1 and 1 + 2^-7: ties go to the even mantissa (1.0).
  REQUIRE(static_cast<float>(bfloat16(1.0f + 0x1p-8f)) == 1.0f);
  // 1 + 3·2^-8 is halfway between 1 + 2^-7 (odd) and 1 + 2^-6 (even).
  REQUIRE(static_cast<float>(bfloat16(1.0f + 3 * 0x1p-8f)) == 1.0f + 0x1p-6f);
  REQUIRE(static_cast<float>(bfloat16(1.0f + 0x1p-8f + 0x1p-20f)) == 1.0f + 0x1p-7f);
  REQUIRE(std::isnan(static_cast<float>(bfloat16(std::numeric_limits<float>::quiet_NaN()))));
  for (std::uint32_t b = 0; b < 65536; ++b) {
    const bfloat16 h = bfloat16::from_bits(static_cast<std::uint16_t>(b));
    const float f = h;
    if (!std::isnan(f)) REQUIRE(bfloat16(f).bits == h.bits);
  }
}

TEST_CASE("dtype names, sizes and dispatch", "[core][dtype]") {
  REQUIRE(itemsize(DType::bf16) == 2);
  REQUIRE(itemsize(DType::i64) == 8);
  REQUIRE(std::string(name(DType::f32)) == "f32");
  REQUIRE(visit_dtype(DType::i32, [](auto tag) { return sizeof(typename decltype(tag)::type); }) == 4);
  REQUIRE_THROWS_WITH(visit_floating(DType::i64, "softplus", [](auto) { return 0; }),
                      Catch::Contains("softplus") && Catch::Contains("i64"));
}

TEST_CASE("tensor dtype conversion goes through every pair", "[core][dtype]") {
  const Tensor src = from_vector<double>({-3.0, -1.5, 0.0, 0.25, 2.0, 100.0}, {6});
  for (DType a : {DType::f32, DType::f64, DType::bf16, DType::f16}) {
    for (DType b : {DType::f32, DType::f64, DType::bf16, DType::f16, DType::i64, DType::i32}) {
      const auto got = testing::values(src.to(a).to(b));
      REQUIRE(got.size() == 6);
      // All values are exact in every float type; integers truncate toward zero.
      const double expect_1 = is_floating(b) ? -1.5 : -1.0;
      REQUIRE(got[1] == expect_1);
      REQUIRE(got[5] == 100.0);
    }
  }
  const auto as_bool = testing::values(src.to(DType::boolean));
  REQUIRE(as_bool == std::vector<double>{1, 1, 0, 1, 1, 1});
  const auto as_u8 = testing::values(from_vector<double>({0.0, 255.0, 7.9}, {3}).to(DType::u8));
  REQUIRE(as_u8 == std::vector<double>{0, 255, 7});
}
