// .npy files in and out, through xtensor's npy support. `load_npy` reads the header's dtype
// first so the caller need not know it; bad or truncated files raise molm::error naming the path.
#pragma once

#include "molm/ops/view.hpp"
#include "molm/tensor/xtensor.hpp"

#include <xtensor/xnpy.hpp>

#include <filesystem>
#include <fstream>
#include <string>

namespace molm {

namespace io::detail {

/// The numpy dtype string ("<f4", "<i8", "|b1", ...) from an .npy header.
inline std::string npy_descr(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  MOLM_CHECK(in.good(), "npy", "cannot open {}", path.string());
  char head[10];
  in.read(head, 10);
  MOLM_CHECK(in.gcount() == 10 && std::string(head, 6) == "\x93NUMPY", "npy", "{} is not an .npy file",
             path.string());
  const int major = static_cast<unsigned char>(head[6]);
  std::size_t header_len = static_cast<unsigned char>(head[8]) | (static_cast<unsigned char>(head[9]) << 8);
  if (major >= 2) {  // 4-byte header length
    char more[2];
    in.read(more, 2);
    header_len |= (static_cast<std::size_t>(static_cast<unsigned char>(more[0])) << 16) |
                  (static_cast<std::size_t>(static_cast<unsigned char>(more[1])) << 24);
  }
  MOLM_CHECK(header_len < (1u << 20), "npy", "{}: implausible header length {}", path.string(), header_len);
  std::string header(header_len, '\0');
  in.read(header.data(), static_cast<std::streamsize>(header_len));
  MOLM_CHECK(static_cast<std::size_t>(in.gcount()) == header_len, "npy", "{}: truncated header", path.string());
  const auto key = header.find("'descr'");
  MOLM_CHECK(key != std::string::npos, "npy", "{}: header has no descr", path.string());
  const auto q1 = header.find('\'', key + 7);
  const auto q2 = q1 == std::string::npos ? q1 : header.find('\'', q1 + 1);
  MOLM_CHECK(q2 != std::string::npos, "npy", "{}: malformed descr", path.string());
  return header.substr(q1 + 1, q2 - q1 - 1);
}

template <class T> Tensor load_npy_as(const std::filesystem::path& path) {
  auto a = xt::load_npy<T>(path.string());
  return from_xtensor(a);
}

}  // namespace io::detail

/// Read an .npy file (f4, f8, i8, i4, u1, b1; little-endian, C order) into a new tensor.
inline Tensor load_npy(const std::filesystem::path& path) {
  const std::string d = io::detail::npy_descr(path);
  try {
    if (d == "<f4") return io::detail::load_npy_as<float>(path);
    if (d == "<f8") return io::detail::load_npy_as<double>(path);
    if (d == "<i8") return io::detail::load_npy_as<std::int64_t>(path);
    if (d == "<i4") return io::detail::load_npy_as<std::int32_t>(path);
    if (d == "|u1") return io::detail::load_npy_as<std::uint8_t>(path);
    if (d == "|b1") return io::detail::load_npy_as<bool>(path);
  } catch (const std::exception& e) {
    MOLM_THROW("npy", "{}: {}", path.string(), e.what());
  }
  MOLM_THROW("npy", "{}: unsupported dtype '{}'", path.string(), d);
}

/// Write t (f32, f64, i64, i32, u8, bool) to an .npy file.
inline void save_npy(const std::filesystem::path& path, const Tensor& t) {
  Tensor c = t.detach().contiguous();
  visit_dtype(c.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    if constexpr (std::is_same_v<T, bfloat16> || std::is_same_v<T, float16>) {
      MOLM_THROW("save_npy", "{} has no .npy dtype; convert with .to(DType::f32)", name(c.dtype()));
    } else {
      xt::dump_npy(path.string(), as_xtensor<T>(c));
    }
  });
}

}  // namespace molm
