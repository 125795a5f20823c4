// Element types: the runtime `DType` tag, the two 16-bit float storage types, and `visit_dtype`,
// the single place where a runtime dtype becomes a compile-time element type.
//
// bfloat16 and float16 are storage formats: arithmetic converts to float, computes, and rounds back
// (round-to-nearest-even, as PyTorch and oneDNN do), so a bf16 kernel is a float kernel with a
// conversion at each end.
#pragma once

#include "molm/core/error.hpp"

#include <cstdint>
#include <cstring>
#include <string_view>
#include <type_traits>

namespace molm {

enum class DType : std::uint8_t { f32, f64, bf16, f16, i64, i32, u8, boolean };

/// bfloat16: the upper 16 bits of an IEEE float32.
struct bfloat16 {
  std::uint16_t bits = 0;
  bfloat16() = default;
  bfloat16(float f) {  // NOLINT(google-explicit-constructor): behaves like a float
    std::uint32_t u;
    std::memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) {  // NaN: keep it a quiet NaN
      bits = static_cast<std::uint16_t>((u >> 16) | 0x40u);
      return;
    }
    u += 0x7fffu + ((u >> 16) & 1u);  // round to nearest, ties to even
    bits = static_cast<std::uint16_t>(u >> 16);
  }
  operator float() const {  // NOLINT(google-explicit-constructor)
    std::uint32_t u = static_cast<std::uint32_t>(bits) << 16;
    float f;
    std::memcpy(&f, &u, 4);
    return f;
  }
  static bfloat16 from_bits(std::uint16_t b) {
    bfloat16 r;
    r.bits = b;
    return r;
  }
};

/// IEEE 754 binary16.
struct float16 {
  std::uint16_t bits = 0;
  float16() = default;
  float16(float f) {  // NOLINT(google-explicit-constructor)
    std::uint32_t x;
    std::memcpy(&x, &f, 4);
    const std::uint32_t sign = (x >> 16) & 0x8000u;
    std::uint32_t mag = x & 0x7fffffffu;
    if (mag > 0x7f800000u) {  // NaN
      bits = static_cast<std::uint16_t>(sign | 0x7e00u);
      return;
    }
    if (mag >= 0x477ff000u) {  // rounds to >= 65520: infinity
      bits = static_cast<std::uint16_t>(sign | 0x7c00u);
      return;
    }
    if (mag < 0x38800000u) {  // subnormal or zero in half precision
      float a;
      std::memcpy(&a, &mag, 4);
      // Adding 0.5 (2^-1) aligns the half subnormal grid (2^-24) to float's last mantissa bits,
      // and the FPU performs the round-to-nearest-even for us.
      a += 0.5f;
      std::uint32_t r;
      std::memcpy(&r, &a, 4);
      bits = static_cast<std::uint16_t>(sign | (r - 0x3f000000u));
      return;
    }
    const std::uint32_t odd = (mag >> 13) & 1u;
    mag += 0xc8000fffu + odd;  // rebias exponent (-112 << 23) and round to nearest even
    bits = static_cast<std::uint16_t>(sign | (mag >> 13));
  }
  operator float() const {  // NOLINT(google-explicit-constructor)
    const std::uint32_t sign = static_cast<std::uint32_t>(bits & 0x8000u) << 16;
    const std::uint32_t exp = (bits >> 10) & 0x1fu;
    const std::uint32_t man = bits & 0x3ffu;
    std::uint32_t u;
    if (exp == 0) {
      if (man == 0) {
        u = sign;
      } else {  // subnormal: value = man * 2^-24
        float f = static_cast<float>(man) * 5.9604644775390625e-8f;
        std::memcpy(&u, &f, 4);
        u |= sign;
      }
    } else if (exp == 31) {
      u = sign | 0x7f800000u | (man << 13);
    } else {
      u = sign | ((exp + 112u) << 23) | (man << 13);
    }
    float f;
    std::memcpy(&f, &u, 4);
    return f;
  }
  static float16 from_bits(std::uint16_t b) {
    float16 r;
    r.bits = b;
    return r;
  }
};

template <class T> struct dtype_of_t;
template <> struct dtype_of_t<float> { static constexpr DType value = DType::f32; };
template <> struct dtype_of_t<double> { static constexpr DType value = DType::f64; };
template <> struct dtype_of_t<bfloat16> { static constexpr DType value = DType::bf16; };
template <> struct dtype_of_t<float16> { static constexpr DType value = DType::f16; };
template <> struct dtype_of_t<std::int64_t> { static constexpr DType value = DType::i64; };
template <> struct dtype_of_t<std::int32_t> { static constexpr DType value = DType::i32; };
template <> struct dtype_of_t<std::uint8_t> { static constexpr DType value = DType::u8; };
template <> struct dtype_of_t<bool> { static constexpr DType value = DType::boolean; };
/// The DType of a C++ element type: dtype_of<float> == DType::f32.
template <class T> inline constexpr DType dtype_of = dtype_of_t<T>::value;

/// The type arithmetic is done in: float for the 16-bit floats, the type itself otherwise.
template <class T> struct acc_type_t { using type = T; };
template <> struct acc_type_t<bfloat16> { using type = float; };
template <> struct acc_type_t<float16> { using type = float; };
template <class T> using acc_t = typename acc_type_t<T>::type;

template <class T>
inline constexpr bool is_floating_v = std::is_floating_point_v<T> || std::is_same_v<T, bfloat16> ||
                                      std::is_same_v<T, float16>;

constexpr std::size_t itemsize(DType t) {
  switch (t) {
    case DType::f64:
    case DType::i64: return 8;
    case DType::f32:
    case DType::i32: return 4;
    case DType::bf16:
    case DType::f16: return 2;
    case DType::u8:
    case DType::boolean: return 1;
  }
  return 0;
}

constexpr std::string_view name(DType t) {
  switch (t) {
    case DType::f32: return "f32";
    case DType::f64: return "f64";
    case DType::bf16: return "bf16";
    case DType::f16: return "f16";
    case DType::i64: return "i64";
    case DType::i32: return "i32";
    case DType::u8: return "u8";
    case DType::boolean: return "bool";
  }
  return "?";
}

/// The DType of acc_t: f32 for the 16-bit floats, the dtype itself otherwise.
constexpr DType acc_dtype(DType t) { return t == DType::bf16 || t == DType::f16 ? DType::f32 : t; }

constexpr bool is_floating(DType t) {
  return t == DType::f32 || t == DType::f64 || t == DType::bf16 || t == DType::f16;
}

/// A value of type `type_tag<T>` carries the element type to a generic lambda.
template <class T> struct type_tag { using type = T; };

/// Call `f(type_tag<T>{})` with the C++ element type of `t`.
template <class F> decltype(auto) visit_dtype(DType t, F&& f) {
  switch (t) {
    case DType::f32: return f(type_tag<float>{});
    case DType::f64: return f(type_tag<double>{});
    case DType::bf16: return f(type_tag<bfloat16>{});
    case DType::f16: return f(type_tag<float16>{});
    case DType::i64: return f(type_tag<std::int64_t>{});
    case DType::i32: return f(type_tag<std::int32_t>{});
    case DType::u8: return f(type_tag<std::uint8_t>{});
    case DType::boolean: return f(type_tag<bool>{});
  }
  MOLM_THROW("dtype", "unknown dtype code {}", static_cast<int>(t));
}

/// Like visit_dtype, restricted to floating types; `op` names the caller in the error.
template <class F> decltype(auto) visit_floating(DType t, const char* op, F&& f) {
  switch (t) {
    case DType::f32: return f(type_tag<float>{});
    case DType::f64: return f(type_tag<double>{});
    case DType::bf16: return f(type_tag<bfloat16>{});
    case DType::f16: return f(type_tag<float16>{});
    default: MOLM_THROW(op, "expects a floating-point tensor, got {}", name(t));
  }
}

/// Like visit_dtype, restricted to integer index types (i64, i32).
template <class F> decltype(auto) visit_index(DType t, const char* op, F&& f) {
  switch (t) {
    case DType::i64: return f(type_tag<std::int64_t>{});
    case DType::i32: return f(type_tag<std::int32_t>{});
    default: MOLM_THROW(op, "expects an integer index tensor (i64 or i32), got {}", name(t));
  }
}

}  // namespace molm

template <> struct fmt::formatter<molm::DType> : fmt::formatter<std::string_view> {
  template <class Ctx> auto format(molm::DType t, Ctx& ctx) const {
    return fmt::formatter<std::string_view>::format(molm::name(t), ctx);
  }
};
