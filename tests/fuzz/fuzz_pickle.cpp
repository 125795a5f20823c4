// libFuzzer target: the restricted unpickler, alone and inside a torch checkpoint. The input is a
// data.pkl: it is unpickled directly (torch persistent ids become storage references), then packed
// with sixteen 64-byte storage records into an in-memory torch zip and read by TorchCheckpoint, whose
// tensors are materialised and touched. Every input must load or fail with molm::error; anything
// else (a crash, a sanitizer report, another exception, a hang, a leak) is a bug.
#include <molm/io/torch_checkpoint.hpp>

#include <zlib.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace {

volatile unsigned sink;  // keeps the byte reads from being optimised away

void put(std::vector<std::byte>& out, std::uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<std::byte>((v >> (8 * i)) & 0xff));
}
void put(std::vector<std::byte>& out, std::string_view s) {
  for (const char c : s) out.push_back(static_cast<std::byte>(c));
}

/// A minimal stored zip (local headers, central directory, end record), as torch.save lays it out.
std::vector<std::byte> stored_zip(const std::vector<std::pair<std::string, std::string>>& entries) {
  std::vector<std::byte> out;
  std::vector<std::uint64_t> offsets;
  for (const auto& [name, data] : entries) {
    offsets.push_back(out.size());
    const auto crc = crc32(0, reinterpret_cast<const Bytef*>(data.data()), static_cast<uInt>(data.size()));
    put(out, 0x04034b50, 4), put(out, 20, 2), put(out, 0, 2), put(out, 0, 2), put(out, 0, 4);
    put(out, crc, 4), put(out, data.size(), 4), put(out, data.size(), 4), put(out, name.size(), 2), put(out, 0, 2);
    put(out, name), put(out, data);
  }
  const std::uint64_t cd = out.size();
  for (std::size_t i = 0; i < entries.size(); ++i) {
    const auto& [name, data] = entries[i];
    const auto crc = crc32(0, reinterpret_cast<const Bytef*>(data.data()), static_cast<uInt>(data.size()));
    put(out, 0x02014b50, 4), put(out, 20, 2), put(out, 20, 2), put(out, 0, 2), put(out, 0, 2), put(out, 0, 4);
    put(out, crc, 4), put(out, data.size(), 4), put(out, data.size(), 4), put(out, name.size(), 2);
    put(out, 0, 2), put(out, 0, 2), put(out, 0, 2), put(out, 0, 2), put(out, 0, 4), put(out, offsets[i], 4);
    put(out, name);
  }
  const std::uint64_t cd_size = out.size() - cd;
  put(out, 0x06054b50, 4), put(out, 0, 2), put(out, 0, 2), put(out, entries.size(), 2), put(out, entries.size(), 2);
  put(out, cd_size, 4), put(out, cd, 4), put(out, 0, 2);
  return out;
}

void touch(const molm::Tensor& t) {
  // Every element the view claims, through its strides (values() converts them all to f64).
  const molm::Tensor c = t.contiguous();
  const auto* p = static_cast<const unsigned char*>(c.raw_data());
  unsigned sum = 0;
  for (std::int64_t i = 0; i < c.numel() * static_cast<std::int64_t>(c.itemsize()); ++i) sum += p[i];
  sink = sum;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  namespace pk = molm::io::pickle;
  try {
    pk::Options opt;
    opt.source = "fuzz.pkl";
    opt.persistent_load = [](const pk::Value& pid) -> pk::Value { return pk::storage_ref(pid); };
    const pk::Result r = pk::load(bytes, opt);
    sink = static_cast<unsigned>(r.root.describe().size() + r.placeholders.size());
  } catch (const molm::error&) {
  }
  try {
    std::vector<std::pair<std::string, std::string>> entries = {{"archive/data.pkl", std::string(bytes)},
                                                                {"archive/byteorder", "little"}};
    for (int k = 0; k < 16; ++k) {  // the keys torch gives the first 16 storages; odd ones hold valid bools
      std::string record(64, '\0');
      for (int i = 0; i < 64; ++i) record[i] = static_cast<char>(k % 2 ? (i & 1) : (i * 37 + k));
      entries.emplace_back("archive/data/" + std::to_string(k), record);
    }
    const auto ck = molm::TorchCheckpoint::from_memory(stored_zip(entries), "fuzz.pt");
    for (const auto& [name, t] : ck.tensors({.include_numpy = true})) touch(t);
    try {
      for (const auto& [name, t] : ck.state_dict()) touch(t);
    } catch (const molm::error&) {
    }
  } catch (const molm::error&) {
  }
  return 0;
}
