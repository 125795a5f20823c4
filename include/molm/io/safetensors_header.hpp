// The safetensors header: parsing and full validation of untrusted bytes, and writing.
//
// File layout (https://github.com/huggingface/safetensors):
//   u64 little-endian N | N bytes of JSON | data section
//   JSON = { "__metadata__": {str: str}?, name: {"dtype": "F32", "shape": [..], "data_offsets": [b, e]}, ... }
// Offsets are relative to the data section, data is row-major little-endian.
//
// `parse_safetensors_header` touches nothing outside the bytes it is given, and every check runs
// before a tensor is exposed: a hostile file yields a molm::error naming the file and the byte
// offset or the tensor, never a crash. Stricter than the reference reader in one way (BOOL bytes
// must be 0 or 1, checked when the tensor is read, since other values are not valid C++ bools) and
// laxer in one (gaps between tensors are allowed; overlaps are not).
#pragma once

#include "molm/core/dtype.hpp"
#include "molm/core/error.hpp"
#include "molm/core/shape.hpp"
#include "molm/core/utf8.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace molm {

/// Where one tensor lives in a safetensors file.
struct SafetensorInfo {
  DType dtype = DType::f32;
  Shape shape;
  std::uint64_t begin = 0;  ///< data_offsets[0]: first byte, relative to the data section
  std::uint64_t end = 0;    ///< data_offsets[1]: one past the last byte
  std::uint64_t nbytes() const { return end - begin; }
};

namespace io::detail {

inline constexpr std::uint64_t kSafetensorsMaxHeader = 100'000'000;  // the reference reader's limit
inline constexpr int kMaxJsonDepth = 16;  // a valid header nests 3 deep; this bounds hostile input

/// True if `s` is well-formed UTF-8 (no overlong forms, no surrogates, at most U+10FFFF): core/utf8.hpp.
inline bool is_valid_utf8(std::string_view s) { return utf8::is_valid(s); }

/// `s` fit for a one-line error message: control bytes (and all non-ASCII bytes when `s` is not
/// valid UTF-8) become \xNN, and very long strings are cut.
inline std::string printable(std::string_view s) {
  const bool valid = is_valid_utf8(s);
  std::string out;
  for (const char ch : s.substr(0, 200)) {
    const auto c = static_cast<unsigned char>(ch);
    if (c < 0x20 || c == 0x7f || (c >= 0x80 && !valid)) {
      static constexpr char kHex[] = "0123456789abcdef";
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    } else {
      out += ch;
    }
  }
  if (s.size() > 200) out += "...";
  return out;
}

/// The safetensors dtype string of `t` ("F32", ...).
inline std::string_view safetensors_dtype_name(DType t) {
  switch (t) {
    case DType::f64: return "F64";
    case DType::f32: return "F32";
    case DType::f16: return "F16";
    case DType::bf16: return "BF16";
    case DType::i64: return "I64";
    case DType::i32: return "I32";
    case DType::u8: return "U8";
    case DType::boolean: return "BOOL";
  }
  return "?";
}

/// The DType of a safetensors dtype string, or false when molm has no such dtype.
inline bool safetensors_dtype_from_name(std::string_view s, DType& out) {
  for (DType t : {DType::f64, DType::f32, DType::f16, DType::bf16, DType::i64, DType::i32, DType::u8,
                  DType::boolean}) {
    if (s == safetensors_dtype_name(t)) {
      out = t;
      return true;
    }
  }
  return false;
}

/// Parse JSON from untrusted bytes, rejecting duplicate keys at any level (nlohmann keeps the last
/// one silently) and nesting deeper than kMaxJsonDepth. `where` and `base` (the file offset of
/// text[0]) place errors in the file.
inline nlohmann::json parse_json_strict(std::string_view text, const std::string& where, std::uint64_t base,
                                        const char* component) {
  using json = nlohmann::json;
  std::vector<std::set<std::string>> keys;  // one set per object being parsed
  auto check = [&](int depth, json::parse_event_t ev, json& parsed) {
    if (depth > kMaxJsonDepth) MOLM_THROW(component, "{}: JSON nests deeper than {} levels", where, kMaxJsonDepth);
    if (ev == json::parse_event_t::object_start) {
      keys.emplace_back();
    } else if (ev == json::parse_event_t::object_end) {
      if (!keys.empty()) keys.pop_back();
    } else if (ev == json::parse_event_t::key && !keys.empty()) {
      const auto& k = parsed.get_ref<const std::string&>();
      if (!keys.back().insert(k).second)
        MOLM_THROW(component, "{}: duplicate name '{}' in the JSON header", where, printable(k));
    }
    return true;
  };
  try {
    return json::parse(text.begin(), text.end(), check);
  } catch (const json::parse_error& e) {
    const std::uint64_t at = base + (e.byte > 0 ? e.byte - 1 : 0);
    std::string what = e.what();
    const auto colon = what.find(": ");  // drop nlohmann's "[json.exception...] parse error at line 1, column 9"
    if (colon != std::string::npos) what = what.substr(colon + 2);
    MOLM_THROW(component, "{}: header is not valid JSON (byte {}): {}", where, at, printable(what));
  } catch (const json::exception& e) {
    MOLM_THROW(component, "{}: header is not valid JSON: {}", where, printable(e.what()));
  }
}

/// A JSON integer as a non-negative uint64, or false (negative, fractional, not a number).
inline bool json_to_u64(const nlohmann::json& v, std::uint64_t& out) {
  if (v.is_number_unsigned()) {
    out = v.get<std::uint64_t>();
    return true;
  }
  if (v.is_number_integer() && v.get<std::int64_t>() >= 0) {
    out = static_cast<std::uint64_t>(v.get<std::int64_t>());
    return true;
  }
  return false;
}

/// One tensor's entry, validated against a data section of `data_size` bytes.
inline SafetensorInfo parse_tensor_entry(const std::string& tname, const nlohmann::json& e, std::uint64_t data_size,
                                         const std::string& where) {
  constexpr const char* C = "safetensors";
  const std::string n = printable(tname);
  MOLM_CHECK(e.is_object(), C, "{}: tensor '{}': entry is {}, not an object", where, n, e.type_name());
  for (const char* key : {"dtype", "shape", "data_offsets"})
    MOLM_CHECK(e.contains(key), C, "{}: tensor '{}': entry has no \"{}\"", where, n, key);
  SafetensorInfo info;

  const auto& dt = e["dtype"];
  MOLM_CHECK(dt.is_string(), C, "{}: tensor '{}': dtype is {}, not a string", where, n, dt.type_name());
  MOLM_CHECK(safetensors_dtype_from_name(dt.get_ref<const std::string&>(), info.dtype), C,
             "{}: tensor '{}': unsupported dtype '{}' (molm reads F64, F32, F16, BF16, I64, I32, U8, BOOL)", where, n,
             printable(dt.get_ref<const std::string&>()));

  const auto& sh = e["shape"];
  MOLM_CHECK(sh.is_array(), C, "{}: tensor '{}': shape is {}, not an array", where, n, sh.type_name());
  MOLM_CHECK(sh.size() <= static_cast<std::size_t>(kMaxDims), C, "{}: tensor '{}': {} dimensions, molm supports {}",
             where, n, sh.size(), kMaxDims);
  std::int64_t numel = 1;
  std::string shape_text = sh.dump();
  for (const auto& d : sh) {
    std::uint64_t v = 0;
    MOLM_CHECK(json_to_u64(d, v) && v <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()), C,
               "{}: tensor '{}': shape {} has an entry that is not a non-negative 64-bit integer", where, n,
               printable(shape_text));
    info.shape.push_back(static_cast<std::int64_t>(v));
    MOLM_CHECK(!__builtin_mul_overflow(numel, static_cast<std::int64_t>(v), &numel), C,
               "{}: tensor '{}': element count of shape {} overflows 64 bits", where, n, printable(shape_text));
  }
  std::uint64_t nbytes = 0;
  MOLM_CHECK(!__builtin_mul_overflow(static_cast<std::uint64_t>(numel), itemsize(info.dtype), &nbytes), C,
             "{}: tensor '{}': byte size of shape {} in {} overflows 64 bits", where, n, printable(shape_text),
             safetensors_dtype_name(info.dtype));

  const auto& off = e["data_offsets"];
  MOLM_CHECK(off.is_array() && off.size() == 2 && json_to_u64(off[0], info.begin) && json_to_u64(off[1], info.end), C,
             "{}: tensor '{}': data_offsets {} is not a pair of non-negative integers", where, n,
             printable(off.dump()));
  MOLM_CHECK(info.begin <= info.end && info.end <= data_size, C,
             "{}: tensor '{}': data_offsets [{}, {}] lie outside the data section of {} bytes", where, n, info.begin,
             info.end, data_size);
  MOLM_CHECK(info.nbytes() == nbytes, C,
             "{}: tensor '{}': data_offsets [{}, {}] hold {} bytes but {} x {} needs {}", where, n, info.begin,
             info.end, info.nbytes(), safetensors_dtype_name(info.dtype), info.shape.str(), nbytes);
  return info;
}

/// A parsed, validated header.
struct SafetensorsHeader {
  std::uint64_t data_start = 0;  ///< file offset of the data section (8 + header length)
  std::map<std::string, SafetensorInfo> tensors;
  std::map<std::string, std::string> metadata;
};

/// Parse and validate the header of the safetensors file held in `bytes[0, size)`. `where` names
/// the file in errors.
inline SafetensorsHeader parse_safetensors_header(const std::byte* bytes, std::size_t size,
                                                  const std::string& where) {
  constexpr const char* C = "safetensors";
  MOLM_CHECK(size >= 8, C, "{}: file is {} bytes, too short for the 8-byte header length", where, size);
  std::uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<std::uint8_t>(bytes[i]);  // little-endian
  MOLM_CHECK(n <= kSafetensorsMaxHeader, C, "{}: header length {} (byte 0) exceeds the {}-byte limit", where, n,
             kSafetensorsMaxHeader);
  MOLM_CHECK(n <= size - 8, C, "{}: header length {} (byte 0) runs past the end of the {}-byte file", where, n, size);

  const std::string_view text(reinterpret_cast<const char*>(bytes) + 8, static_cast<std::size_t>(n));
  const nlohmann::json j = parse_json_strict(text, where, 8, C);
  MOLM_CHECK(j.is_object(), C, "{}: header is a JSON {}, not an object", where, j.type_name());

  SafetensorsHeader h;
  h.data_start = 8 + n;
  const std::uint64_t data_size = size - h.data_start;
  for (const auto& [key, value] : j.items()) {
    if (key == "__metadata__") {
      MOLM_CHECK(value.is_object(), C, "{}: __metadata__ is {}, not an object", where, value.type_name());
      for (const auto& [mk, mv] : value.items()) {
        MOLM_CHECK(mv.is_string(), C, "{}: __metadata__ '{}' is {}, not a string", where, printable(mk),
                   mv.type_name());
        h.metadata.emplace(mk, mv.get<std::string>());
      }
      continue;
    }
    h.tensors.emplace(key, parse_tensor_entry(key, value, data_size, where));
  }

  // No two tensors may share a byte: sort the non-empty ranges and compare neighbours.
  std::vector<std::pair<const std::string*, const SafetensorInfo*>> ranges;
  for (const auto& [k, info] : h.tensors)
    if (info.nbytes() > 0) ranges.emplace_back(&k, &info);
  std::sort(ranges.begin(), ranges.end(), [](const auto& a, const auto& b) { return a.second->begin < b.second->begin; });
  for (std::size_t i = 1; i < ranges.size(); ++i) {
    const auto& [pn, prev] = ranges[i - 1];
    const auto& [cn, cur] = ranges[i];
    MOLM_CHECK(cur->begin >= prev->end, C, "{}: tensors '{}' [{}, {}] and '{}' [{}, {}] overlap", where,
               printable(*pn), prev->begin, prev->end, printable(*cn), cur->begin, cur->end);
  }
  return h;
}

}  // namespace io::detail
}  // namespace molm
