// libFuzzer target: the zip layer and the torch checkpoint reader on arbitrary bytes, held in memory.
// Every entry is read (stored ones in place, deflated ones inflated under a 1 MB cap) and every
// tensor materialised and touched. Every input must load or fail with molm::error; anything else
// (a crash, a sanitizer report, another exception, a hang, a huge allocation) is a bug.
#include <molm/io/torch_checkpoint.hpp>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

namespace {

volatile unsigned sink;  // keeps the byte reads from being optimised away

unsigned sum_bytes(const std::byte* p, std::size_t n) {
  unsigned s = 0;
  for (std::size_t i = 0; i < n; ++i) s += static_cast<unsigned>(p[i]);
  return s;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::vector<std::byte> bytes(size);
  if (size) std::memcpy(bytes.data(), data, size);
  try {
    const auto zip = molm::io::ZipArchive::from_memory(bytes, "fuzz.zip");
    for (const auto& e : zip.entries()) {
      try {
        if (e.stored() && !e.encrypted) {
          const auto span = zip.stored(e);
          sink = sum_bytes(span.data(), span.size());
        }
        const std::string s = zip.read(e, 1 << 20);
        sink = sum_bytes(reinterpret_cast<const std::byte*>(s.data()), s.size());
      } catch (const molm::error&) {
      }
    }
  } catch (const molm::error&) {
  }
  try {
    molm::TorchLoadOptions opt;
    opt.max_pickle_bytes = 1 << 20;
    opt.max_inflated_storage_bytes = 1 << 20;
    const auto ck = molm::TorchCheckpoint::from_memory(std::move(bytes), "fuzz.pt", opt);
    for (const auto& [name, t] : ck.tensors({.include_numpy = true})) {
      const molm::Tensor c = t.contiguous();
      sink = sum_bytes(static_cast<const std::byte*>(c.raw_data()), static_cast<std::size_t>(c.numel()) * c.itemsize());
    }
  } catch (const molm::error&) {
  }
  return 0;
}
