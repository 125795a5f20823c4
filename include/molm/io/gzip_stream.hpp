// Gzip in, as a stream: a std::istream that inflates a .gz file while it is read.
//
//   io::GzipIstream in("library.sdf.gz", "chem");    // throws molm::error if it cannot be opened
//   while (std::getline(in, line)) ...                // memory stays bounded by the 64 KiB buffer
//
// Text readers take a std::istream, so compressed inputs need no second code path and are never
// inflated whole. A corrupt or truncated stream must not look like a clean end of file (the
// records read so far would pass for the whole library): the buffer throws molm::error naming the
// file and the compressed offset, and the stream has exceptions(badbit) set so that error reaches
// the caller instead of being turned into a quiet failbit by the istream machinery.
// Damage is found where zlib can see it: a cut-off stream at its end, a broken deflate block where
// it is, bit flips inside a block only at the member's CRC check, so text inflated from a damaged
// block may have been handed out (and parsed as records) before the error.
// Concatenated gzip members (pigz, bgzip) are read as one stream, as gzip -d does.
#pragma once

#include "molm/core/error.hpp"

#include <zlib.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <istream>
#include <streambuf>
#include <string>

namespace molm::io {

/// True when `path` starts with the gzip magic bytes 1f 8b (false when it cannot be read).
inline bool is_gzip_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  unsigned char magic[2] = {0, 0};
  in.read(reinterpret_cast<char*>(magic), 2);
  return in.gcount() == 2 && magic[0] == 0x1f && magic[1] == 0x8b;
}

/// Inflates a gzip file on demand (zlib's gzread; a file that is not gzip is passed through as is).
class GzipStreambuf : public std::streambuf {
 public:
  GzipStreambuf(const std::filesystem::path& path, std::string component)
      : path_(path.string()), component_(std::move(component)) {
    errno = 0;
    file_ = gzopen(path_.c_str(), "rb");
    MOLM_CHECK(file_ != nullptr, component_.c_str(), "{}: cannot open for reading: {}", path_,
               errno ? std::strerror(errno) : "out of memory");
    gzbuffer(file_, static_cast<unsigned>(buffer_.size()));
  }
  ~GzipStreambuf() override {
    if (file_) gzclose(file_);
  }
  GzipStreambuf(const GzipStreambuf&) = delete;
  GzipStreambuf& operator=(const GzipStreambuf&) = delete;

 protected:
  int_type underflow() override {
    if (gptr() < egptr()) return traits_type::to_int_type(*gptr());
    const int n = gzread(file_, buffer_.data(), static_cast<unsigned>(buffer_.size()));
    int errnum = Z_OK;
    const char* why = gzerror(file_, &errnum);
    // gzread reports a stream cut short as Z_BUF_ERROR after returning the last bytes it could inflate.
    if (n < 0 || (n == 0 && errnum != Z_OK)) {
      std::string message = errnum == Z_ERRNO ? std::strerror(errno) : why;
      if (message.rfind(path_ + ": ", 0) == 0) message.erase(0, path_.size() + 2);  // zlib prefixes the path
      MOLM_THROW(component_.c_str(), "{}: {} gzip stream at compressed byte {} (after {} uncompressed bytes): {}",
                 path_, errnum == Z_BUF_ERROR ? "truncated" : "corrupt", static_cast<long long>(gzoffset(file_)),
                 static_cast<long long>(gztell(file_)), message);
    }
    if (n == 0) return traits_type::eof();
    setg(buffer_.data(), buffer_.data(), buffer_.data() + n);
    return traits_type::to_int_type(*gptr());
  }

 private:
  std::string path_, component_;
  gzFile file_ = nullptr;
  std::array<char, 1 << 16> buffer_{};
};

/// An istream over GzipStreambuf; a corrupt stream throws molm::error out of the read that hits it.
class GzipIstream : public std::istream {
 public:
  GzipIstream(const std::filesystem::path& path, std::string component = "io")
      : std::istream(nullptr), buffer_(path, std::move(component)) {
    rdbuf(&buffer_);
    exceptions(std::ios::badbit);
  }

 private:
  GzipStreambuf buffer_;
};

}  // namespace molm::io
