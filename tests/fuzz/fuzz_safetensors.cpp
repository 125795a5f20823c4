// libFuzzer target: the safetensors reader on arbitrary bytes. Every input must either open (and then
// every tensor must read) or fail with molm::error; anything else — a crash, a sanitizer report, a
// different exception, a hang — is a bug. The input is written to a file because the reader maps
// files; on tmpfs (/dev/shm) that costs microseconds.
#include <molm/io/safetensors.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <string>

#include <unistd.h>

namespace {

volatile unsigned sink;  // keeps the byte reads from being optimised away

const std::string& scratch_file() {
  static const std::string path = [] {
    const char* dir = ::access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    return std::string(dir) + "/molm_fuzz_safetensors_" + std::to_string(::getpid()) + ".safetensors";
  }();
  return path;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  {
    std::ofstream out(scratch_file(), std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  }
  try {
    const molm::SafetensorsFile file(scratch_file());
    for (const auto& name : file.names()) {
      const molm::Tensor t = file.tensor(name);
      // Touch every byte the tensor claims, so an out-of-file range would be caught by ASan.
      const auto* p = static_cast<const unsigned char*>(t.raw_data());
      const auto nbytes = t.numel() * static_cast<std::int64_t>(molm::itemsize(t.dtype()));
      unsigned sum = 0;
      for (std::int64_t i = 0; i < nbytes; ++i) sum += p[i];
      sink = sum;
    }
  } catch (const molm::error&) {
    // Rejected with a clear error: the expected outcome for malformed input.
  }
  return 0;
}
