#include "support/testing.hpp"

#include <immintrin.h>

#include <cstring>
#include <limits>

using namespace molm;

namespace {
float f32_from_bits(std::uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
// The hardware conversions (F16C, present on every x86-64 CPU since 2012) are the oracle.
__attribute__((target("f16c"))) float hw_half_to_float(std::uint16_t b) { return _cvtsh_ss(b); }
__attribute__((target("f16c"))) std::uint16_t hw_float_to_half(float f) {
  return static_cast<std::uint16_t>(hw_float_to_half(f));
}
std::uint32_t bits_of(float f) {
  std::uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}
}  // namespace

TEST_CASE("float16 decodes every bit pattern like the F16C instruction", "[core][dtype]") {
  for (std::uint32_t b = 0; b < 65536; ++b) {
    const float ours = float16::from_bits(static_cast<std::uint16_t>(b));
    const float hw = hw_half_to_float(static_cast<std::uint16_t>(b));
    if (std::isnan(hw)) {
      REQUIRE(std::isnan(ours));
    } else {
      INFO("bits " << b);
      REQUIRE(bits_of(ours) == bits_of(hw));
    }
  }
}

TEST_CASE("float16 encodes with round-to-nearest-even like the F16C instruction", "[core][dtype]") {
  // Every float16 boundary region: sweep exponents across subnormal, normal and overflow ranges.
  std::uint64_t state = 12345;
  for (int i = 0; i < 200000; ++i) {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    const std::uint32_t exp = 100 + static_cast<std::uint32_t>((state >> 33) % 60);  // 2^-27 .. 2^32
    const std::uint32_t u = (static_cast<std::uint32_t>(state >> 60) << 31 & 0x80000000u) | (exp << 23) |
                            (static_cast<std::uint32_t>(state >> 20) & 0x7fffffu);
    const float f = f32_from_bits(u);
    INFO("value " << f);
    REQUIRE(float16(f).bits == hw_float_to_half(f));
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
